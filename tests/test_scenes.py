"""The synthetic benchmark: deterministic, correct by construction, and strict about its settings."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from methods.data.scenes import ScenesConfig, generate
from methods.data.scenes.probes import (
    COMPOSITIONAL_TYPES,
    PERCEPTION_PATTERNS,
    Description,
    Mention,
    description_diff,
    hard_negative,
    pattern_diff,
    perception_pair,
)
from methods.data.scenes.render import Obj, Scene, object_mask, render
from methods.data.scenes.vocab import CATEGORIES, CATEGORY_ID, POSITIONS
from methods.data.stream import read_all

SMALL = ScenesConfig(image_size=32, n_train=40, n_val=8, n_test=24, shard_size=16, perception_pairs=2)


def _scene(d: dict) -> Scene:
    objs = tuple(Obj(**{**o, "box": tuple(o["box"])}) for o in d["objects"])
    return Scene(d["background"], d["texture"], d["noise_seed"], objs)


def test_same_seed_gives_byte_identical_shards(tmp_path):
    a = generate(SMALL, tmp_path / "a", workers=1, progress=False)
    b = generate(SMALL, tmp_path / "b", workers=2, progress=False)
    assert a["sha256"] == b["sha256"] and len(a["sha256"]) == 8  # 3 train + 1 val + 2 test shards + 2 probe files
    c = generate(ScenesConfig(**{**SMALL.__dict__, "seed": 1}), tmp_path / "c", workers=2, progress=False)
    assert c["sha256"]["train/train-000000.tar"] != a["sha256"]["train/train-000000.tar"]


def test_masks_agree_with_object_records(scenes):
    samples = list(read_all(sorted(str(p) for p in (scenes / "test").glob("*.tar"))))
    assert len(samples) == 64
    for s in samples:
        meta = json.loads(s["json"])
        scene = _scene(meta["scene"])
        cmap = np.asarray(Image.open(io.BytesIO(s["mask.png"])))
        _, expected = render(scene, cmap.shape[0])
        assert np.array_equal(cmap, expected)
        inside = np.zeros_like(cmap, dtype=bool)
        for o in scene.objects:
            x0, y0, x1, y1 = o.box
            region = cmap[y0:y1, x0:x1]
            assert (region == CATEGORY_ID[o.category]).any(), "every object is visible"
            inside[y0:y1, x0:x1] |= region == CATEGORY_ID[o.category]
            row, col = POSITIONS[o.position]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            assert int(cx * 3 // cmap.shape[1]) == col and int(cy * 3 // cmap.shape[0]) == row
        assert np.array_equal(inside, cmap > 0), "every labelled pixel lies in its object's box"
        assert meta["raw_caption"] and len(meta["short_captions"]) == 3 and len(meta["long_captions"]) == 3
        assert scene.dominant.category in meta["raw_caption"][0]
        # v3: one short caption names every object by category alone (no colour, size or position words)
        parts = re.split(r", | and ", meta["short_captions"][1][0])
        assert [p.split(" ", 1)[1] for p in parts] == [o.category for o in scene.objects]
        assert all(p.split(" ", 1)[0].lower() in ("a", "an") for p in parts)


def test_object_mask_rotation_changes_pixels_not_area_much():
    up = object_mask(Obj("triangle", "red", "large", "center"), 24)
    down = object_mask(Obj("triangle", "red", "large", "center", rotation=180.0), 24)
    assert np.array_equal(np.flipud(np.fliplr(up)), down)


@pytest.mark.parametrize("kind", COMPOSITIONAL_TYPES)
def test_hard_negative_differs_in_exactly_the_edited_part(kind):
    expected = {"replace-object": {"m0.category", "m1.category"}, "replace-attribute": {"m0.colour", "m1.colour"},
                "replace-relation": {"relation"}, "add-object": {"added-mention"},
                "add-attribute": {"m0.colour", "m1.colour"}}
    made = 0
    for i in range(60):
        rng = np.random.default_rng(i)
        from methods.data.scenes.generate import scene_for
        cfg = ScenesConfig()
        scene, _ = scene_for(cfg, "test", i)
        pair = hard_negative(scene, kind, rng, cfg.categories, cfg.colours)
        if pair is None:
            continue
        pos, neg = pair
        diff = description_diff(pos, neg)
        if kind == "swap-object":
            assert diff == {"m0.category", "m1.category"}
            assert (pos.mentions[0].category, pos.mentions[1].category) == (neg.mentions[1].category,
                                                                            neg.mentions[0].category)
        elif kind == "swap-attribute":
            assert diff == {"m0.colour", "m1.colour"}
        else:
            assert len(diff) == 1 and diff <= expected[kind], diff
        assert pos.text() != neg.text() and neg.text()[0].isupper()
        assert {m.colour for m in neg.mentions} <= {*cfg.colours, None}  # only words the training captions use
        made += 1
    assert made > 30


def test_replace_relation_negative_is_false():
    a = Obj("circle", "red", "small", "left", box=(0, 10, 8, 18))
    b = Obj("star", "blue", "large", "right", box=(20, 5, 32, 27))
    pos, neg = hard_negative(Scene("gray", "smooth", 0, (b, a)), "replace-relation", np.random.default_rng(0),
                             CATEGORIES, ("red", "blue"))
    assert pos.relation == "to the left of" and neg.relation == "to the right of"
    assert Description((Mention("circle", "red", "small"), Mention("star")), "above").text() == \
        "A small red circle above a star"


@pytest.mark.parametrize("pattern", PERCEPTION_PATTERNS)
def test_perception_pairs_differ_in_exactly_one_pattern(pattern):
    from methods.data.scenes.generate import scene_for

    for i in range(20):
        base, _ = scene_for(ScenesConfig(), "test", i)
        (a, cap_a), (b, cap_b) = perception_pair(base, pattern, np.random.default_rng(i), 64, CATEGORIES,
                                                 ScenesConfig().colours)
        assert pattern_diff(a, b) == {pattern}
        assert cap_a != cap_b
        img_a, _ = render(a, 64)
        img_b, _ = render(b, 64)
        assert np.asarray(img_a).tolist() != np.asarray(img_b).tolist()


@pytest.mark.parametrize("bad, message", [
    ({"min_objects": 0}, "min_objects"), ({"colours": ("red", "mauve")}, "unknown colour 'mauve'"),
    ({"image_size": 0}, "image_size"), ({"n_train": 0}, "n_train"), ({"max_objects": 7}, "max_objects"),
    ({"categories": ("circle", "blob")}, "unknown category 'blob'"), ({"typical_colour_p": 1.5}, "typical_colour_p"),
])
def test_bad_settings_are_rejected_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        ScenesConfig(**bad)


def test_typical_colours_follow_their_probability_and_the_colour_only_ceiling_is_the_bayes_rate():
    from collections import Counter

    from methods.data.scenes.card import colour_only_top1
    from methods.data.scenes.generate import scene_for
    from methods.data.scenes.vocab import typical_colour

    always = ScenesConfig(typical_colour_p=1.0)
    for i in range(20):
        scene, _ = scene_for(always, "train", i)
        assert all(o.colour == typical_colour(o.category, always.categories, always.colours) for o in scene.objects)
    cfg = ScenesConfig()  # p 0.8: the circle is typically red, the digit four too (16 categories over 10 colours)
    assert typical_colour("circle", cfg.categories, cfg.colours) == typical_colour("digit four", cfg.categories,
                                                                                    cfg.colours) == "red"
    assert colour_only_top1(cfg.categories, cfg.colours, 0.0) == pytest.approx(1 / 16)
    assert colour_only_top1(cfg.categories, cfg.colours, 0.8) == pytest.approx((10 * 0.8 + 10 * 0.2 / 10) / 16)
    # the empirical Bayes classifier (best category per colour, counted on sampled scenes) matches the formula
    joint = Counter()
    for i in range(3000):
        d = scene_for(cfg, "val", i)[0].dominant
        joint[d.colour, d.category] += 1
    best = {}
    for (colour, _), n in joint.items():
        best[colour] = max(best.get(colour, 0), n)
    assert sum(best.values()) / 3000 == pytest.approx(colour_only_top1(cfg.categories, cfg.colours, 0.8), abs=0.03)


def test_card_states_chance_levels(scenes):
    card = (scenes / "CARD.md").read_text()
    meta = json.loads((scenes / "meta.json").read_text())
    assert "Chance levels" in card and "digit seven" in card
    chance = meta["statistics"]["chance"]
    assert chance["classification_top1"] == pytest.approx(1 / 16)
    assert chance["classification_colour_only"] == pytest.approx(0.5125)  # typical colours at p 0.8
    assert "Typical colours" in card and "circle red" in card
    assert chance["retrieval_r1"]["t2i"] == pytest.approx(1 / 64)
    assert 0 < chance["segmentation_miou_with_background"] < chance["segmentation_miou_without_background"] < 1


def test_surface_patterns_paint_each_category_distinctly_and_leave_the_class_map_alone():
    from methods.data.scenes.render import surface_pattern
    from methods.data.scenes.vocab import CATEGORY_PATTERNS, COLOURS, PATTERN_AMPLITUDE

    planes = {c: surface_pattern(CATEGORY_PATTERNS[c], 64) for c in CATEGORIES}
    for c, p in planes.items():  # +-1 everywhere (solid: 0), and no two categories share a pattern
        assert set(np.unique(p)) <= ({0.0} if CATEGORY_PATTERNS[c] == "solid" else {-1.0, 1.0})
    flat = [p.tobytes() for p in planes.values()]
    assert len(set(flat)) == len(CATEGORIES)
    obj = Obj("square", "blue", "large", "center", box=(16, 16, 48, 48))
    scene = Scene("gray", "smooth", 0, (obj,))
    (img_p, map_p), (img_f, map_f) = render(scene, 64, patterns=True), render(scene, 64, patterns=False)
    assert np.array_equal(map_p, map_f)
    inside = map_p == CATEGORY_ID["square"]
    flat_px, pat_px = np.asarray(img_f)[inside].astype(int), np.asarray(img_p)[inside].astype(int)
    assert (flat_px == COLOURS["blue"]).all()
    diff = pat_px - flat_px  # +-45 per channel, less where 0 / 255 clip it
    assert (np.abs(diff) <= PATTERN_AMPLITUDE).all() and (np.abs(diff).sum(axis=1) > 0).all()
    assert (diff[:, 2] > 0).any() and (diff[:, 2] < 0).any()
