"""Shortcut oracles (docs/benchmark.md, "Shortcuts"): what a model gets from less than binding, on scene metadata
only. The bag of words plus the large object's colour (and how many objects sit above it) in retrieval; the large
object's colour alone on the hard negatives; a shape-free oracle (every bound fact but the objects' categories)
choosing an image's own text in a training batch, texts drawn as CLIP or COSMOS draws them. Facts, scores and
tie-breaking are oracles.py's.
"""

from __future__ import annotations

import collections
import random

import numpy as np

from ..views import TextView, build_texts
from .generate import compositional_items, sample_record, scene_for
from .oracles import (
    BATCH,
    CONTEXT,
    _pick,
    expected_r1,
    facts,
    scene_facts,
    score_matrix,
    test_split,
    truncate,
)
from .probes import COMPOSITIONAL_TYPES
from .render import Scene
from .vocab import vertical_relation

SHORTCUTS = ("bag + large colour", "bag + large colour + rank")


def _node(colour, category) -> tuple:
    return ("obj", colour, category)


def _caption_large(bound: set) -> tuple[set, set]:
    """(colours the caption gives a "large" object, its vertical ranks: how many objects the caption puts above
    it, through its chain of above / below relations; objects are told apart by colour and category)."""
    colours = {f[2] for f in bound if f[0] == "np" and f[1] == "large" and f[2]}
    large = {_node(f[2], f[4]) for f in bound if f[0] == "np" and f[1] == "large" and f[2]}
    up: dict = collections.defaultdict(set)  # node -> the nodes stated above it
    for f in bound:
        if f[0] == "rel" and f[2] in ("above", "below"):
            a, b = _node(f[1][2], f[1][4]), _node(f[3][2], f[3][4])
            if f[2] == "above":
                up[b].add(a)
            else:
                up[a].add(b)
    ranks = set()
    for node in large:
        seen, todo = set(), list(up[node])
        while todo:
            n = todo.pop()
            if n not in seen and n != node:
                seen.add(n)
                todo += list(up[n])
        if up[node] or any(node in v for v in up.values()):
            ranks.add(len(seen))
    return colours, ranks


def _scene_large(scene: Scene) -> tuple[str, int]:
    """(the large object's colour, how many objects sit above it)."""
    d = scene.dominant
    return d.colour, sum(vertical_relation(o.box, d.box) == "above" for o in scene.objects[1:])


def shortcut_views(text: tuple[set, set], oracle: str) -> set:
    bound, bag = text
    colours, ranks = _caption_large(bound)
    view = set(bag) | {("large", c) for c in colours}
    if oracle == "bag + large colour + rank":
        view |= {("large-rank", r) for r in ranks}
    return view


def scene_shortcut(scene: Scene, bag: set, oracle: str) -> set:
    colour, rank = _scene_large(scene)
    return set(bag) | {("large", colour)} | ({("large-rank", rank)} if oracle.endswith("rank") else set())


def shortcut_retrieval(cfg, context: int = CONTEXT) -> dict[str, dict[str, float]]:
    """I2T and T2I R@1 of the shortcut oracles on the test split: the bag of words plus the large object's colour
    (plus how many objects sit above it): binding reduced to the large object."""
    scenes, texts, correct = test_split(cfg, context)
    bags = [scene_facts(scene, cfg.version)[1] for scene in scenes]
    out = {}
    for oracle in SHORTCUTS:
        s = score_matrix([shortcut_views(t, oracle) for t in texts],
                         [scene_shortcut(sc, bag, oracle) for sc, bag in zip(scenes, bags)])
        out[oracle] = {"i2t": expected_r1(s.T, correct.T), "t2i": expected_r1(s, correct)}
    return out


def large_colour_negatives(cfg) -> dict[str, float]:
    """Percent of each hard-negative type that the large object's colour alone gets right: a caption scores +1
    when it gives a "large" object the large object's colour, -1 another colour, 0 no large object."""
    out = {}
    items = compositional_items(cfg)
    for kind in COMPOSITIONAL_TYPES:
        if not items[kind]:
            continue
        right = []
        for it in items[kind]:
            colour, _ = _scene_large(scene_for(cfg, "test", int(it["key"][4:]))[0])

            def score(text, colour=colour):
                given = _caption_large(facts(text)[0])[0]
                return (colour in given) - len(given - {colour})
            right.append(_pick(score(it["positive"]), score(it["negative"])))
        out[kind] = 100 * float(np.mean(right))
    return out


def _shape_free(f):
    """A fact without object categories (what a model that cannot tell shapes apart can check)."""
    if f[0] == "np":
        return ("np", f[1], f[2], f[3])
    if f[0] in ("pos", "only"):
        return (f[0], _shape_free(f[1]), *f[2:])
    if f[0] == "rel":
        return ("rel", _shape_free(f[1]), f[2], _shape_free(f[3]))
    if f[0] == "count":
        return ("count", f[1], None, f[3])
    return f


def shape_free_batch(cfg, mode: str, batches: int = 100, seed: int = 0) -> float:
    """Percent of training images that pick their own text among a training batch's (BATCH) by every bound fact
    but the objects' categories (expected R@1, ties at random), the texts drawn as the method draws them (`mode`:
    a TextView caption mode, e.g. "random" for CLIP, or "textcrop" for COSMOS's global crops)."""
    view = TextView(mode)
    rng = np.random.default_rng(seed)
    draw = random.Random(seed)
    right = []
    for _ in range(batches):
        idx = rng.choice(cfg.n_train, size=BATCH, replace=False)
        records = [sample_record(cfg, "train", int(i)) for i in idx]
        texts = [{_shape_free(f) for f in facts(truncate(build_texts(rec, view, draw)[0], CONTEXT))[0]}
                 for _, rec in records]
        truth = [{_shape_free(f) for f in scene_facts(scene, cfg.version)[0]} for scene, _ in records]
        s = score_matrix(texts, truth)
        right.append(expected_r1(s.T, np.eye(BATCH, dtype=bool)))
    return float(np.mean(right))


def measure(cfg) -> dict:
    """The shortcut rows of docs/benchmark.md for one benchmark config."""
    return {"shortcuts": shortcut_retrieval(cfg), "large_colour": large_colour_negatives(cfg),
            "shape_free_batch": {mode: shape_free_batch(cfg, mode) for mode in ("random", "textcrop")}}
