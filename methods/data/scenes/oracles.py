"""Oracles on scene metadata (no model): what each task of a benchmark version needs (docs/benchmark.md).

An oracle scores a caption against a scene: the caption's words (truncated to a context by CLIP's tokenizer) are
parsed over the benchmark's closed vocabulary into facts; each fact the scene makes true counts +1, each false one
-100. Ties are broken at random and reported as their expectation. Oracles:
- bag: the caption's attribute words (colours, categories, sizes, background, texture) against the scene's, unbound;
- bound: noun phrases (size, colour, orientation, category of one object), counts, "only", positions of their
  object, relations between two noun phrases, the backdrop;
- bound, no relations: the bound oracle without positions and relations.
The shortcut oracles (less than binding) are in shortcuts.py.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re

import numpy as np

from .captions import where
from .probes import COMPOSITIONAL_TYPES, PERCEPTION_PATTERNS, n_tokens
from .render import Scene
from .vocab import (
    BACKGROUNDS,
    CATEGORIES,
    COLOURS,
    DIGIT_WORDS,
    POSITIONS,
    RELATIONS,
    SIZES,
    TEXTURES,
    relation,
    vertical_relation,
)

ORACLES = ("bag", "bound", "bound, no relations")
CONTEXT = 77  # CLIP's text context: the v5 gate G5 (every test long caption fits)
BATCH = 32  # the tiny profile's training batch (G8)
_PENALTY = 100
_POSITION_PHRASES = sorted(((where(p), p) for p in POSITIONS), key=lambda x: -len(x[0]))
_POSITION_PHRASES += [(p.replace("in the ", ""), c) for p, c in _POSITION_PHRASES if p.startswith("in the ")]
_RELATION_WORDS = sorted(RELATIONS, key=len, reverse=True)


@dataclasses.dataclass(frozen=True)
class Phrase:
    """A noun phrase: one object's category and the attributes the caption gives it."""

    category: str
    size: str | None = None
    colour: str | None = None
    orientation: str | None = None
    count: int | None = None
    only: bool = False
    start: int = 0
    end: int = 0

    @property
    def key(self) -> tuple:
        return ("np", self.size, self.colour, self.orientation, self.category)


def _category_at(words: list[str], j: int) -> tuple[str, int] | None:
    """(category, words used) at words[j], singular or plural ("digit sevens", "crosses")."""
    if words[j] == "digit" and j + 1 < len(words):
        w = words[j + 1]
        for d in DIGIT_WORDS:
            if w in (d, d + "s"):
                return f"digit {d}", 2
        return None
    for c in CATEGORIES:
        if " " not in c and words[j] in (c, c + "s", c + "es"):
            return c, 1
    return None


def phrases(words: list[str]) -> list[Phrase]:
    """The noun phrases of a sentence's words, left to right (a phrase cut off before its category is dropped)."""
    out, j = [], 0
    while j < len(words):
        k, attrs = j, {}
        if words[k] == "only":
            attrs["only"], k = True, k + 1
        while k < len(words) and words[k] in ("a", "an", "the"):
            k += 1
        if k < len(words) and words[k] in ("one", "two") and (k == 0 or words[k - 1] != "digit"):
            attrs["count"], k = (1 if words[k] == "one" else 2), k + 1
        for field, vocab in (("size", SIZES), ("orientation", ("upright", "upside-down")), ("colour", COLOURS)):
            if k < len(words) and words[k] in vocab:
                attrs[field], k = words[k], k + 1
        hit = _category_at(words, k) if k < len(words) else None
        if hit is None:
            j += 1
            continue
        out.append(Phrase(hit[0], start=j, end=k + hit[1], **attrs))
        j = k + hit[1]
    return out


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z\- ]", " ", text.lower()).split()


def facts(text: str) -> tuple[set, set]:
    """(bound facts, bag words) of a caption: sentences split at '.', each parsed over the closed vocabulary."""
    bound, bag = set(), set()
    for sentence in text.split("."):
        words = _words(sentence)
        if not words:
            continue
        joined = " ".join(words)
        nps = phrases(words)
        for p in nps:
            bound.add(p.key)
            bag.update(w for w in (p.size, p.colour, p.category) if w)
            if p.count is not None:
                bound.add(("count", p.colour, p.category, p.count))
            if p.only:
                bound.add(("only", p.key))
        for a, b in zip(nps, nps[1:]):
            between = " ".join(words[a.end:b.start])
            rel = next((r for r in _RELATION_WORDS if r in between), None)
            if rel:
                bound.add(("rel", a.key, rel, b.key))
        if len(nps) == 1:
            for phrase, cell in _POSITION_PHRASES:
                if re.search(rf"\b{phrase}\b", joined) and not re.search(rf"\b(to the|of the) {phrase}", joined):
                    bound.add(("pos", nps[0].key, cell))
                    break
        bg = next((w for w in words if w in BACKGROUNDS), None)
        tex = next((w for w in words if w in TEXTURES), None)
        if bg or tex:
            bound.add(("bg", bg, tex))
            bag.update(w for w in (bg, tex) if w)
    return bound, bag


def _orientation(rotation: float) -> str:
    return "upside-down" if abs(rotation) >= 90 else "upright"


def scene_facts(scene: Scene, version: int) -> tuple[set, set]:
    """(every bound fact true of the scene, its bag of attribute words)."""
    objs = scene.objects
    variants = []
    for o in objs:
        vs = [("np", s, c, r, o.category) for s in (None, o.size) for c in (None, o.colour)
              for r in (None, _orientation(o.rotation))]
        variants.append(vs)
    keys = set()
    for o, vs in zip(objs, variants):
        keys.update(vs)
        keys.update(("pos", v, o.position) for v in vs)
        if len(objs) == 1:
            keys.update(("only", v) for v in vs)
    rel = vertical_relation if version >= 5 else relation
    for i, a in enumerate(objs):
        for j, b in enumerate(objs):
            if i != j:
                r = rel(a.box, b.box)
                keys.update(("rel", va, r, vb) for va in variants[i] for vb in variants[j])
    counts = collections.Counter()
    for o in objs:
        counts[(None, o.category)] += 1
        counts[(o.colour, o.category)] += 1
    keys.update(("count", c, k, n) for (c, k), n in counts.items())
    keys.update(("bg", b, t) for b in (None, scene.background) for t in (None, scene.texture) if b or t)
    bag = {w for o in objs for w in (o.size, o.colour, o.category)} | {scene.background, scene.texture}
    return keys, bag


def truncate(text: str, context: int) -> str:
    """What a model with this text context sees of a caption (CLIP's tokenizer: start and end take two)."""
    from open_clip.tokenizer import _tokenizer

    ids = _tokenizer.encode(text)
    return text if len(ids) <= context - 2 else _tokenizer.decode(ids[:context - 2])


def _views(text_facts: list[tuple[set, set]], oracle: str) -> list[set]:
    if oracle == "bag":
        return [bag for _, bag in text_facts]
    if oracle == "bound":
        return [bound for bound, _ in text_facts]
    return [{f for f in bound if f[0] not in ("rel", "pos")} for bound, _ in text_facts]


def score_matrix(captions: list[set], scenes: list[set]) -> np.ndarray:
    """(captions, scenes) scores: +1 per true fact, -PENALTY per false one."""
    from scipy import sparse

    ids: dict = {}
    def rows(sets):  # noqa: E306
        r, c = [], []
        for i, s in enumerate(sets):
            for f in s:
                r.append(i)
                c.append(ids.setdefault(f, len(ids)))
        return r, c
    cr, cc = rows(captions)
    sr, sc = rows(scenes)
    n = len(ids)
    cap = sparse.csr_matrix((np.ones(len(cr)), (cr, cc)), shape=(len(captions), n))
    scn = sparse.csr_matrix((np.ones(len(sr)), (sr, sc)), shape=(len(scenes), n))
    true = (cap @ scn.T).toarray()
    sizes = np.array([len(s) for s in captions], dtype=float)[:, None]
    return true - _PENALTY * (sizes - true)


def _score(caption: set, scene: set) -> float:
    true = len(caption & scene)
    return true - _PENALTY * (len(caption) - true)


def expected_r1(scores: np.ndarray, correct: np.ndarray) -> float:
    """Expected R@1 (percent) of each row's top score under random tie-breaking: the correct share of the ties."""
    top = scores == scores.max(axis=1, keepdims=True)
    return float(100 * np.mean((top & correct).sum(1) / top.sum(1)))


def _pick(a: float, b: float) -> float:
    return 1.0 if a > b else 0.5 if a == b else 0.0


def test_split(cfg, context: int) -> tuple[list[Scene], list[tuple[set, set]], np.ndarray]:
    """The test split as the retrieval oracles read it: its scenes, the facts of each long caption truncated to
    `context`, and the (captions, scenes) matrix of which caption belongs to which scene."""
    from ..text import join_sentences
    from .generate import sample_record

    scenes, texts, owner = [], [], []
    for i in range(cfg.n_test):
        scene, caps = sample_record(cfg, "test", i)
        scenes.append(scene)
        for cap in caps["long_captions"]:
            texts.append(facts(truncate(join_sentences(cap), context)))
            owner.append(i)
    return scenes, texts, np.array(owner)[:, None] == np.arange(cfg.n_test)[None, :]


def retrieval(cfg, context: int) -> dict[str, dict[str, float]]:
    """I2T and T2I R@1 of each oracle on the test split (each image with its three long captions)."""
    test, texts, correct = test_split(cfg, context)
    scenes = [scene_facts(scene, cfg.version) for scene in test]
    out = {}
    for oracle in ORACLES:
        s = score_matrix(_views(texts, oracle), [k if oracle != "bag" else b for k, b in scenes])
        out[oracle] = {"i2t": expected_r1(s.T, correct.T), "t2i": expected_r1(s, correct)}
    return out


def _unigram(cfg, n: int = 2000):
    """Log-probability of a text under the word counts of n training samples' captions (add-one smoothing)."""
    from .generate import sample_record

    counts = collections.Counter()
    for i in range(min(n, cfg.n_train)):
        _, caps = sample_record(cfg, "train", i)
        for cap in caps["long_captions"] + caps["short_captions"]:
            for sentence in cap:
                counts.update(_words(sentence))
    total, vocab = sum(counts.values()), len(counts) + 1
    return lambda text: sum(math.log((counts[w] + 1) / (total + vocab)) for w in _words(text))


def compositional(cfg) -> dict[str, dict[str, float]]:
    """Percent right per hard-negative type: the oracles, length-only and the blind unigram (best direction)."""
    from .generate import compositional_items, scene_for

    loglik = _unigram(cfg)
    out: dict[str, dict[str, float]] = {}
    items = compositional_items(cfg)
    for kind in COMPOSITIONAL_TYPES:
        rows = items[kind]
        if not rows:
            continue
        acc = collections.defaultdict(list)
        for it in rows:
            keys, bag = scene_facts(scene_for(cfg, "test", int(it["key"][4:]))[0], cfg.version)
            fp, fn = facts(it["positive"]), facts(it["negative"])
            for oracle in ORACLES:
                (vp,), (vn,) = _views([fp], oracle), _views([fn], oracle)
                truth = bag if oracle == "bag" else keys
                acc[oracle].append(_pick(_score(vp, truth), _score(vn, truth)))
            acc["length-only"].append(_pick(n_tokens(it["positive"]), n_tokens(it["negative"])))
            acc["text-only"].append(_pick(loglik(it["positive"]), loglik(it["negative"])))
        out[kind] = {k: 100 * float(np.mean(v)) for k, v in acc.items()}
        for blind in ("length-only", "text-only"):  # a fixed rule either way: the better direction
            out[kind][blind] = max(out[kind][blind], 100 - out[kind][blind])
        out[kind]["items"] = len(rows)
    return out


def perception(cfg) -> dict[str, dict[str, float]]:
    """Percent of MMVP-style pairs each oracle gets right (both images pick their own caption)."""
    from .generate import perception_pairs

    acc: dict = collections.defaultdict(lambda: collections.defaultdict(list))
    for pattern, _, ((sa, ca), (sb, cb)) in perception_pairs(cfg):
        (ka, ba), (kb, bb) = scene_facts(sa, cfg.version), scene_facts(sb, cfg.version)
        fa, fb = facts(ca), facts(cb)
        for oracle in ORACLES:
            caps = _views([fa, fb], oracle)
            ta, tb = (ba, bb) if oracle == "bag" else (ka, kb)
            acc[pattern][oracle].append(_pick(_score(caps[0], ta), _score(caps[1], ta)) *
                                        _pick(_score(caps[1], tb), _score(caps[0], tb)))
    return {p: {k: 100 * float(np.mean(v)) for k, v in acc[p].items()} for p in PERCEPTION_PATTERNS if p in acc}


def flip_invariance(cfg) -> float:
    """Percent of the position and relation facts of the test long captions that a horizontal flip keeps true."""
    from ..text import join_sentences
    from .generate import sample_record

    kept = total = 0
    for i in range(cfg.n_test):
        _, caps = sample_record(cfg, "test", i)
        for cap in caps["long_captions"]:
            for f in facts(join_sentences(cap))[0]:
                if f[0] == "rel":
                    total, kept = total + 1, kept + (f[2] not in ("to the left of", "to the right of"))
                elif f[0] == "pos":
                    total, kept = total + 1, kept + (POSITIONS[f[2]][1] == 1)
    return 100.0 * kept / max(total, 1)


def context_fit(cfg, context: int = CONTEXT) -> dict[str, float]:
    """Percent of test long captions within `context` tokens, and the longest (with start and end)."""
    from ..text import join_sentences
    from .generate import sample_record

    lengths = [n_tokens(join_sentences(cap)) + 2 for i in range(cfg.n_test)
               for cap in sample_record(cfg, "test", i)[1]["long_captions"]]
    return {"fit": 100.0 * float(np.mean(np.array(lengths) <= context)), "longest": max(lengths)}


def batch_sharing(cfg, n: int = 3200, batches: int = 200, seed: int = 0) -> float:
    """Mean number of other images of a random training batch that share an exact long-caption sentence."""
    from .generate import sample_record

    sentences = [{s.lower() for cap in sample_record(cfg, "train", i)[1]["long_captions"] for s in cap}
                 for i in range(min(n, cfg.n_train))]
    rng = np.random.default_rng(seed)
    shared = []
    for _ in range(batches):
        batch = rng.choice(len(sentences), size=BATCH, replace=False)
        for a in batch:
            shared.append(sum(bool(sentences[a] & sentences[b]) for b in batch if b != a))
    return float(np.mean(shared))


def colour_survival(colours: tuple[str, ...], views: int = 400, seed: int = 0) -> dict[str, float]:
    """Percent of colour-jittered views (the DINO / COSMOS photometric jitter, always applied) of a patterned patch
    of each palette colour that the best fixed rule still names right: hue for chromatic colours, value for white
    and black."""
    import colorsys

    import torch
    from PIL import Image
    from torchvision import transforms as T

    from ..views import DINO_GLOBAL1
    from .render import surface_pattern
    from .vocab import PATTERN_AMPLITUDE

    def hsv(rgb):
        return colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=float) / 255))

    palette = {c: hsv(COLOURS[c]) for c in colours}
    chromatic = {c: h for c, h in palette.items() if h[1] >= 0.3}
    achromatic = {c: h for c, h in palette.items() if h[1] < 0.3}

    def name(rgb) -> str:
        h, s, v = hsv(rgb)
        if achromatic and (s < 0.25 or not chromatic):
            return min(achromatic, key=lambda c: abs(achromatic[c][2] - v))
        return min(chromatic, key=lambda c: min(abs(chromatic[c][0] - h), 1 - abs(chromatic[c][0] - h)))

    jitter = T.ColorJitter(*DINO_GLOBAL1.jitter)
    torch.manual_seed(seed)
    pattern = surface_pattern("checker-4", 16)
    out = {}
    for c in colours:
        patch = np.clip(np.array(COLOURS[c], dtype=np.float32) + PATTERN_AMPLITUDE * pattern[..., None], 0, 255)
        img = Image.fromarray(patch.astype(np.uint8), "RGB")
        right = sum(name(np.asarray(jitter(img), dtype=float).reshape(-1, 3).mean(0)) == c for _ in range(views))
        out[c] = 100.0 * right / views
    return out


def classification(cfg, n: int = 4000) -> dict[str, float]:
    """Zero-shot top-1 (percent) that a label-free shortcut reaches on the test split (label: the dominant, large
    object's category, scenesets.classification): colour-only picks the category most often seen with the dominant
    object's colour on n training scenes; present-category picks at random among the categories in the image (a
    model that sees the categories but not which is large); chance is one over the categories."""
    from .generate import scene_for

    seen: dict = collections.defaultdict(collections.Counter)
    for i in range(min(n, cfg.n_train)):
        o = scene_for(cfg, "train", i)[0].objects[0]
        seen[o.colour][o.category] += 1
    colour = present = 0.0
    for i in range(cfg.n_test):
        scene = scene_for(cfg, "test", i)[0]
        label = scene.objects[0].category
        counts = seen.get(scene.objects[0].colour, collections.Counter())
        best = [c for c, k in counts.items() if k == max(counts.values())] if counts else list(cfg.categories)
        colour += (label in best) / len(best)
        present += 1 / len({o.category for o in scene.objects})
    return {"colour-only": 100 * colour / cfg.n_test, "present-category": 100 * present / cfg.n_test,
            "chance": 100 / len(cfg.categories)}


def measure(cfg, contexts: tuple[int, ...] = (32, CONTEXT)) -> dict:
    """Every property of docs/benchmark.md's gate table for one benchmark config (shortcuts.measure: its shortcut
    table)."""
    return {"retrieval": {ctx: retrieval(cfg, ctx) for ctx in contexts}, "compositional": compositional(cfg),
            "perception": perception(cfg), "flip_invariant": flip_invariance(cfg), "context": context_fit(cfg),
            "batch_sharing": batch_sharing(cfg), "colour_survival": colour_survival(cfg.colours),
            "classification": classification(cfg)}

