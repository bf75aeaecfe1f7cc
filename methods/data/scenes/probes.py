"""Probe sets built by editing structured records: SugarCrepe-style hard negatives and MMVP-style image pairs.

Every negative is rendered from an edited `Description` by the same renderer as its positive, so it is
grammatical and false by construction; every perception pair renders two `Scene`s that differ in one pattern.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .captions import article, noun, where
from .render import Obj, Scene, object_side, place
from .vocab import ORIENTABLE, opposite, relation, vertical_relation

COMPOSITIONAL_TYPES = ("replace-object", "replace-attribute", "replace-relation", "swap-object",
                       "swap-attribute", "add-object", "add-attribute")
PERCEPTION_PATTERNS = ("colour", "position", "count", "size", "orientation", "presence")


@dataclasses.dataclass(frozen=True)
class Mention:
    category: str
    colour: str | None = None
    size: str | None = None

    def text(self) -> str:
        return article(" ".join(w for w in (self.size, self.colour, self.category) if w))


@dataclasses.dataclass(frozen=True)
class Description:
    """'<m0> <relation> <m1>[ and <m2>...]': a claim about two objects of a scene, plus optional extra objects."""

    mentions: tuple[Mention, ...]
    relation: str

    def text(self) -> str:
        head = f"{self.mentions[0].text()} {self.relation} {self.mentions[1].text()}"
        extra = "".join(f" and {m.text()}" for m in self.mentions[2:])
        return (head + extra)[0].upper() + (head + extra)[1:]

    def to_json(self) -> dict:
        return {"mentions": [dataclasses.asdict(m) for m in self.mentions], "relation": self.relation}


def _replace(d: Description, i: int, **kw) -> Description:
    ms = list(d.mentions)
    ms[i] = dataclasses.replace(ms[i], **kw)
    return dataclasses.replace(d, mentions=tuple(ms))


def hard_negative(scene: Scene, kind: str, rng: np.random.Generator, categories: tuple[str, ...],
                  colours: tuple[str, ...]) -> tuple[Description, Description] | None:
    """(positive, negative) of one hard-negative type for a scene with >= 2 objects, or None if not applicable.
    Negatives name only the benchmark's own categories and colours (words its training captions use)."""
    if len(scene.objects) < 2:
        return None
    a = scene.objects[1 + int(rng.integers(len(scene.objects) - 1))]
    b = scene.dominant
    pos = Description((Mention(a.category, a.colour, a.size), Mention(b.category, b.colour, b.size)),
                      relation(a.box, b.box))
    present = {o.category for o in scene.objects}
    absent = [c for c in categories if c not in present]
    i = int(rng.integers(2))
    true = (a, b)[i]
    if kind == "replace-object":
        return pos, _replace(pos, i, category=absent[int(rng.integers(len(absent)))])
    if kind == "replace-attribute":
        others = [c for c in colours if c != true.colour]
        return pos, _replace(pos, i, colour=others[int(rng.integers(len(others)))])
    if kind == "replace-relation":
        return pos, dataclasses.replace(pos, relation=opposite(pos.relation))
    if kind == "swap-object":
        return pos, _replace(_replace(pos, 0, category=b.category), 1, category=a.category)
    if kind == "swap-attribute":
        if a.colour == b.colour:
            return None
        return pos, _replace(_replace(pos, 0, colour=b.colour), 1, colour=a.colour)
    if kind == "add-object":
        extra = Mention(absent[int(rng.integers(len(absent)))], colours[int(rng.integers(len(colours)))])
        return pos, dataclasses.replace(pos, mentions=pos.mentions + (extra,))
    if kind == "add-attribute":
        bare = _replace(pos, i, colour=None)
        others = [c for c in colours if c != true.colour]
        return bare, _replace(bare, i, colour=others[int(rng.integers(len(others)))])
    raise ValueError(f"unknown hard-negative type {kind!r}; valid choices: {', '.join(COMPOSITIONAL_TYPES)}")


def n_tokens(text: str) -> int:
    """Tokens of CLIP's tokenizer (open_clip's), without start and end."""
    from open_clip.tokenizer import _tokenizer

    return len(_tokenizer.encode(text))


def hard_negative_v5(scene: Scene, kind: str, rng: np.random.Generator, categories: tuple[str, ...],
                     colours: tuple[str, ...]) -> tuple[Description, Description] | None:
    """v5 (docs/benchmark.md): positive and negative of the same token length, so no type is solvable by length;
    a replaced colour is, where the scene has one, the colour of an object the description does not name (a bag of
    the image's words then cannot tell); add-object names a third object, present or absent; add-attribute gives
    one object its own colour or the other object's. Two objects of a scene, any order, "above" / "below"."""
    if len(scene.objects) < 2:
        return None
    i_a, i_b = (int(k) for k in rng.choice(len(scene.objects), size=2, replace=False))
    a, b = scene.objects[i_a], scene.objects[i_b]
    pos = Description((Mention(a.category, a.colour, a.size), Mention(b.category, b.colour, b.size)),
                      vertical_relation(a.box, b.box))
    rest = [o for k, o in enumerate(scene.objects) if k not in (i_a, i_b)]
    present = {o.category for o in scene.objects}
    i = int(rng.integers(2))
    true = (a, b)[i]

    def same_length(p: Description, options, edit) -> tuple[Description, Description] | None:
        fits = [n for n in (edit(x) for x in options) if n_tokens(n.text()) == n_tokens(p.text())]
        return (p, fits[int(rng.integers(len(fits)))]) if fits else None

    if kind == "replace-object":
        return same_length(pos, [c for c in categories if c not in present],
                           lambda c: _replace(pos, i, category=c))
    if kind == "replace-attribute":
        unnamed = [o.colour for o in rest]
        options = unnamed or [c for c in colours if c not in {o.colour for o in scene.objects}]
        return same_length(pos, options, lambda c: _replace(pos, i, colour=c))
    if kind == "replace-relation":
        return pos, dataclasses.replace(pos, relation=opposite(pos.relation))
    if kind == "swap-object":
        return pos, _replace(_replace(pos, 0, category=b.category), 1, category=a.category)
    if kind == "swap-attribute":
        return pos, _replace(_replace(pos, 0, colour=b.colour), 1, colour=a.colour)
    if kind == "add-object":
        if not rest:
            return None
        c = rest[0]
        with_c = dataclasses.replace(pos, mentions=pos.mentions + (Mention(c.category, c.colour),))
        return same_length(with_c, [x for x in categories if x not in present],
                           lambda x: _replace(with_c, 2, category=x))
    if kind == "add-attribute":
        bare = _replace(_replace(pos, 0, colour=None), 1, colour=None)
        return _replace(bare, i, colour=true.colour), _replace(bare, 1 - i, colour=true.colour)
    raise ValueError(f"unknown hard-negative type {kind!r}; valid choices: {', '.join(COMPOSITIONAL_TYPES)}")


def description_diff(p: Description, n: Description) -> set[str]:
    """Which parts differ: 'relation', 'added-mention', 'm<i>.<field>' (used by tests and the dataset card)."""
    out = {"relation"} if p.relation != n.relation else set()
    if len(p.mentions) != len(n.mentions):
        out.add("added-mention")
    for i, (x, y) in enumerate(zip(p.mentions, n.mentions)):
        out |= {f"m{i}.{f.name}" for f in dataclasses.fields(Mention) if getattr(x, f.name) != getattr(y, f.name)}
    return out


def _obj(rng, category, colour, size, position, image_size, rotation=0.0, glyph=0) -> Obj:
    side = object_side(rng, size, image_size)
    return Obj(category, colour, size, position, rotation, glyph, place(rng, position, side, image_size))


def perception_pair(base: Scene, pattern: str, rng: np.random.Generator, image_size: int, categories: tuple[str, ...],
                    colours: tuple[str, ...], version: int = 4) -> tuple[tuple[Scene, str], tuple[Scene, str]]:
    """Two scenes differing in exactly one visual pattern, each with the caption that is true only of it. v5's
    position pairs swap two objects' rows ("a red circle above a blue star" / the reverse), which a flip keeps."""
    d = base.dominant
    cat, col = d.category, d.colour
    other_col = [c for c in colours if c != col][int(rng.integers(len(colours) - 1))]

    def scene(*objs: Obj) -> Scene:
        return Scene(base.background, base.texture, base.noise_seed, tuple(objs))

    if pattern == "colour":
        o = _obj(rng, cat, col, "large", "center", image_size, glyph=d.glyph)
        b = dataclasses.replace(o, colour=other_col)
        return (scene(o), article(f"{col} {cat}")), (scene(b), article(f"{other_col} {cat}"))
    if pattern == "position" and version >= 5:
        others = [c for c in categories if c != cat]
        o = _obj(rng, cat, col, "small", "top", image_size, glyph=d.glyph)
        x = _obj(rng, others[int(rng.integers(len(others)))], other_col, "small", "bottom", image_size)
        top_x = dataclasses.replace(x, position="top", box=place(rng, "top", x.box[2] - x.box[0], image_size))
        bottom_o = dataclasses.replace(o, position="bottom", box=place(rng, "bottom", o.box[2] - o.box[0],
                                                                        image_size))
        first, second = article(f"{col} {cat}"), article(f"{x.colour} {x.category}")
        return (scene(o, x), f"{first} above {second}"), (scene(bottom_o, top_x), f"{second} above {first}")
    if pattern == "position":
        p, q = [("left", "right"), ("top", "bottom")][int(rng.integers(2))]
        o = _obj(rng, cat, col, "small", p, image_size, glyph=d.glyph)
        b = dataclasses.replace(o, position=q, box=place(rng, q, o.box[2] - o.box[0], image_size))
        return (scene(o), f"{article(f'{col} {cat}')} {where(p)}"), (scene(b), f"{article(f'{col} {cat}')} {where(q)}")
    if pattern == "count":
        o = _obj(rng, cat, col, "small", "left", image_size, glyph=d.glyph)
        twin = dataclasses.replace(o, position="right", box=place(rng, "right", o.box[2] - o.box[0], image_size))
        return (scene(o), f"one {col} {cat}"), (scene(o, twin), f"two {col} {noun(cat, plural=True)}")
    if pattern == "size":
        o = _obj(rng, cat, col, "large", "center", image_size, glyph=d.glyph)
        b = _obj(rng, cat, col, "small", "center", image_size, glyph=d.glyph)
        return (scene(o), article(f"large {col} {cat}")), (scene(b), article(f"small {col} {cat}"))
    if pattern == "orientation":
        cat = cat if cat in ORIENTABLE else ORIENTABLE[int(rng.integers(len(ORIENTABLE)))]
        o = _obj(rng, cat, col, "large", "center", image_size)
        b = dataclasses.replace(o, rotation=180.0)
        return (scene(o), article(f"upright {col} {cat}")), (scene(b), article(f"upside-down {col} {cat}"))
    if pattern == "presence":
        o = _obj(rng, cat, col, "large", "left", image_size, glyph=d.glyph)
        others = [c for c in categories if c != cat]
        extra = _obj(rng, others[int(rng.integers(len(others)))], other_col, "small", "right", image_size)
        return ((scene(o), f"only {article(f'{col} {cat}')}"),
                (scene(o, extra), f"{article(f'{col} {cat}')} and {article(f'{extra.colour} {extra.category}')}"))
    raise ValueError(f"unknown perception pattern {pattern!r}; valid choices: {', '.join(PERCEPTION_PATTERNS)}")


def pattern_diff(a: Scene, b: Scene) -> set[str]:
    """Which visual patterns differ between two scenes (used by tests to prove pairs differ in exactly one)."""
    out = set()
    if (a.background, a.texture, a.noise_seed) != (b.background, b.texture, b.noise_seed):
        out.add("background")
    if len(a.objects) != len(b.objects):
        small, big = sorted((a.objects, b.objects), key=len)
        if tuple(big[:len(small)]) != tuple(small):
            out.add("objects")
        extra_cats = {o.category for o in big[len(small):]}
        out.add("count" if extra_cats <= {o.category for o in small} else "presence")
        return out
    for x, y in zip(a.objects, b.objects):
        for field, name in (("colour", "colour"), ("position", "position"), ("size", "size"),
                            ("rotation", "orientation"), ("category", "category")):
            if getattr(x, field) != getattr(y, field):
                out.add(name)
    return out
