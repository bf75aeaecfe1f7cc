"""Captions of a scene in the DreamLIP record layout: a noisy raw alt-text, three short and three long captions.

Each caption is a list of sentences (no final period), the form the text-cropping code consumes; real DreamLIP
records are split into the same form by `methods.data.prepare`. Long captions come from three paraphrase
families so that different captions of one image really differ in wording, not only in content.
"""

from __future__ import annotations

import numpy as np

from .render import Obj, Scene
from .vocab import relation, vertical_relation

_WHERE = {
    "top left": "in the top left corner", "top": "at the top", "top right": "in the top right corner",
    "left": "on the left", "center": "in the center", "right": "on the right",
    "bottom left": "in the bottom left corner", "bottom": "at the bottom",
    "bottom right": "in the bottom right corner",
}


def where(position: str) -> str:
    return _WHERE[position]


def noun(category: str, plural: bool = False) -> str:
    if not plural:
        return category
    return category + ("es" if category.endswith(("s", "x")) else "s")


def article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def phrase(obj: Obj, *, size: bool = True, colour: bool = True) -> str:
    """'large red circle' with the requested attributes (no article)."""
    words = ([obj.size] if size else []) + ([obj.colour] if colour else []) + [obj.category]
    return " ".join(words)


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _relations(scene: Scene, version: int = 4) -> list[tuple[Obj, str, Obj]]:
    """v4: each other object against the dominant one (the dominant axis); v5: each object against the next one
    down (a chain from the top; "above" only)."""
    if version >= 5:
        objs = top_down(scene)
        return [(a, vertical_relation(a.box, b.box), b) for a, b in zip(objs, objs[1:])]
    d = scene.dominant
    return [(o, relation(o.box, d.box), d) for o in scene.objects[1:]]


def top_down(scene: Scene) -> list[Obj]:
    return sorted(scene.objects, key=lambda o: o.box[1] + o.box[3])


def long_captions_v5(scene: Scene) -> list[list[str]]:
    """Three paraphrase families (v5, docs/benchmark.md): every sentence binds two objects by a vertical relation
    (the chain from the top) or one object to the backdrop, so a sentence is rarely another image's; no absolute
    positions (a crop moves them), no left / right (a flip swaps them)."""
    chain, d = _relations(scene, 5), scene.dominant
    bg = f"{scene.texture} {scene.background}"
    fam_a = [cap(f"{article(phrase(a))} is {r} {article(phrase(b))}") for a, r, b in chain]
    fam_a += [cap(f"the {phrase(d, size=False)} is on a {bg} background")]
    fam_b = [cap(f"{article(phrase(b))} is below {article(phrase(a))}") for a, _, b in reversed(chain)]
    fam_b += [f"The background behind the {phrase(d)} is {bg}"]
    fam_c = [cap(f"the {phrase(a, size=False)} appears {r} the {phrase(b, size=False)}") for a, r, b in chain]
    fam_c += [cap(f"{article(phrase(d))} stands on a {scene.background} background with a {scene.texture} texture")]
    return [fam_a, fam_b, fam_c]


def long_captions(scene: Scene) -> list[list[str]]:
    objs, bg = scene.objects, f"{scene.texture} {scene.background}"
    fam_a = [cap(f"{article(phrase(o))} is {where(o.position)}") for o in objs]
    fam_a += [cap(f"the {phrase(a, size=False)} is {r} the {phrase(b, size=False)}") for a, r, b in _relations(scene)]
    fam_a += [f"The background is {bg}"]

    fam_b = [f"The image shows {article(phrase(objs[0]))} {where(objs[0].position)}"]
    fam_b += [f"There is also {article(phrase(o))} {where(o.position)}" for o in objs[1:]]
    fam_b += [cap(f"the {a.category} appears {r} the {b.category}") for a, r, b in _relations(scene)]
    fam_b += [f"Behind the objects is a {bg} background"]

    fam_c = [cap(f"{where(o.position)} there is {article(phrase(o))}") for o in objs]
    fam_c += [cap(f"{article(phrase(a, size=False))} sits {r} {article(phrase(b, size=False))}")
              for a, r, b in _relations(scene)]
    fam_c += [f"The scene has a {scene.background} background with a {scene.texture} texture"]
    return [fam_a, fam_b, fam_c]


def object_list(scene: Scene) -> str:
    """'A star, a circle and a seven': every object by category alone, dominant first."""
    names = [article(o.category) for o in scene.objects]
    return cap(names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def short_captions(scene: Scene, version: int = 4) -> list[list[str]]:
    """Three short captions: every object with its attributes; the objects by category alone (v3: without it,
    colour and position words tell any two captions of a batch apart, the text tower never binds category words
    and zero-shot classification stays at chance however long a tiny CLIP trains: benchmarks/captions.py);
    a relation (or the dominant object on its backdrop)."""
    objs = scene.objects if version < 5 else top_down(scene)
    first = cap(article(phrase(objs[0])))
    if len(objs) > 1:
        first += " with " + " and ".join(article(phrase(o)) for o in objs[1:])
    second = object_list(scene)
    rels = _relations(scene, version)
    if rels:
        a, r, b = rels[0]
        third = cap(f"{article(phrase(a))} {r} {article(phrase(b))}")
    else:
        third = cap(f"{article(phrase(objs[0]))} on a {scene.texture} {scene.background} background")
    return [[first], [second], [third]]


_RAW = ("{colour} {cat}", "{cat}", "image of {a_cat}", "stock photo {colour} {cat} img_{num}",
        "{cat} clipart", "{a_colour_cat} - free download", "DSC{num} {cat}")


def raw_caption(scene: Scene, rng: np.random.Generator) -> list[str]:
    """A short noisy alt-text naming only the dominant object (never false, often incomplete)."""
    d = scene.dominant
    t = _RAW[int(rng.integers(len(_RAW)))]
    text = t.format(colour=d.colour, cat=d.category, a_cat=article(d.category),
                    a_colour_cat=article(f"{d.colour} {d.category}"), num=int(rng.integers(1000, 9999)))
    return [text]


def caption_record(scene: Scene, rng: np.random.Generator, version: int = 4) -> dict:
    """The DreamLIP-layout caption fields of one sample; every caption a list of sentences."""
    return {"raw_caption": raw_caption(scene, rng), "short_captions": short_captions(scene, version),
            "long_captions": long_captions(scene) if version < 5 else long_captions_v5(scene)}

