"""Benchmark v5 and the oracles that check its gates (docs/benchmark.md); v4 unchanged byte for byte."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from methods.data.scenes import PRESETS, ScenesConfig, generate
from methods.data.scenes import oracles as O
from methods.data.scenes import shortcuts as S
from methods.data.scenes.generate import GROUP, compositional_items, perception_pairs, sample_record, write_shard
from methods.data.scenes.probes import COMPOSITIONAL_TYPES, n_tokens, pattern_diff
from methods.data.scenes.render import Obj, Scene, visible_fraction
from methods.data.scenes.vocab import V5_COLOURS

V5 = ScenesConfig(image_size=32, n_train=40, n_val=8, n_test=48, shard_size=16, perception_pairs=3, version=5,
                  colours=V5_COLOURS, min_objects=2, max_objects=3, typical_colour_p=0.5)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:16]


def test_v4_is_generated_byte_for_byte_as_before_versions_existed(tmp_path):
    """Hashes of the `test` preset's files from the code before v5 (commit c814235); the tiny preset's fingerprint
    names the committed history's data folder."""
    cfg = PRESETS["test"]
    assert PRESETS["tiny"].fingerprint() == "c010de5d36" and cfg.fingerprint() == "67e577ea77"
    assert _sha(write_shard(cfg, "test", 0, tmp_path).read_bytes()) == "44d8feab0b8a0455"
    assert _sha(write_shard(cfg, "train", 0, tmp_path).read_bytes()) == "3ccc0b0dbcd05bcc"
    assert _sha(json.dumps(compositional_items(cfg), sort_keys=True).encode()) == "8086560b126ae9f2"


def test_v5_test_groups_share_their_words_and_differ_in_binding():
    for g in range(V5.n_test // GROUP):
        scenes = [sample_record(V5, "test", g * GROUP + k)[0] for k in range(GROUP)]
        bags = [O.scene_facts(s, 5)[1] for s in scenes]
        assert all(b == bags[0] for b in bags), "one bag of words per group"
        bound = [frozenset(O.scene_facts(s, 5)[0]) for s in scenes]
        assert len(set(bound)) == GROUP, "four bindings"
        for s in scenes:
            assert len({o.colour for o in s.objects}) == len(s.objects), "one colour per object"
            rows = [(o.box[1] + o.box[3]) / 2 for o in s.objects]
            assert min(abs(a - b) for i, a in enumerate(rows) for b in rows[i + 1:]) >= 6, "distinct rows"
            assert min(visible_fraction(s, V5.image_size)) >= 0.4, "a rebound object stays visible"


def test_v5_hard_negatives_have_their_positives_token_length():
    items = compositional_items(V5)
    assert set(items) == set(COMPOSITIONAL_TYPES) and all(items[k] for k in COMPOSITIONAL_TYPES if k != "add-object")
    for kind, rows in items.items():
        for it in rows:
            assert n_tokens(it["positive"]) == n_tokens(it["negative"]), (kind, it["positive"], it["negative"])
            assert it["positive"] != it["negative"]


def test_v5_position_pairs_swap_rows_and_keep_left_and_right_out():
    pairs = [pair for pattern, _, pair in perception_pairs(V5) if pattern == "position"]
    assert pairs
    for (sa, ca), (sb, cb) in pairs:
        assert pattern_diff(sa, sb) == {"position"} and " above " in ca and " above " in cb
        assert "left" not in ca + cb and "right" not in ca + cb


def test_v5_generates_end_to_end(tmp_path):
    meta = generate(V5, tmp_path, workers=1, progress=False)
    assert meta["fingerprint"] == V5.fingerprint() != ScenesConfig(**{**V5.__dict__, "version": 4,
                                                                      "colours": V5_COLOURS}).fingerprint()
    assert meta["statistics"]["test_images"] == V5.n_test


@pytest.mark.parametrize("bad", [{"max_objects": 4}, {"min_objects": 1}, {"n_test": 50}, {"version": 6},
                                 {"colours": ("red", "green")}])
def test_v5_settings_that_break_its_design_are_rejected(bad):
    with pytest.raises(ValueError):
        ScenesConfig(**{**V5.__dict__, **bad})


def _obj(cat, colour, size, y, x=20):
    side = 16 if size == "large" else 8
    return Obj(cat, colour, size, "center", 0.0, 0, (x, y, x + side, y + side))


def test_the_oracles_on_known_answers():
    """A red circle above a blue star, and its rebinding: the bag cannot tell them apart, the bound oracle can,
    the one without relations only by colour."""
    a = Scene("gray", "smooth", 0, (_obj("circle", "red", "large", 2), _obj("star", "blue", "small", 40)))
    b = Scene("gray", "smooth", 0, (_obj("circle", "blue", "large", 2), _obj("star", "red", "small", 40)))
    c = Scene("gray", "smooth", 0, (_obj("circle", "red", "large", 40), _obj("star", "blue", "small", 2)))
    caption = "A large red circle is above a small blue star. The red circle is on a smooth gray background."
    bound, bag = O.facts(caption)
    assert ("rel", ("np", "large", "red", None, "circle"), "above", ("np", "small", "blue", None, "star")) in bound
    assert ("bg", "gray", "smooth") in bound and bag == {"large", "red", "circle", "small", "blue", "star", "gray",
                                                          "smooth"}
    truths = [O.scene_facts(s, 5) for s in (a, b, c)]
    bound_scores = [O._score(bound, k) for k, _ in truths]
    assert bound_scores[0] > max(bound_scores[1:]), "only a makes every fact true"
    assert len({O._score(bag, w) for _, w in truths}) == 1, "one bag"
    norel = {f for f in bound if f[0] not in ("rel", "pos")}
    s = [O._score(norel, k) for k, _ in truths]
    assert s[0] == s[2] > s[1], "without relations a and c tie"
    # expected R@1 under random ties: a row whose top score is shared by 4 columns, one correct, scores 25%
    assert O.expected_r1(np.array([[1.0, 1.0, 1.0, 1.0]]), np.array([[True, False, False, False]])) == 25.0
    # truncation: a model with an 8-token context sees the first 6 tokens only
    assert O.truncate(caption, 8).split() == ["a", "large", "red", "circle", "is", "above"]
    assert ("np", "large", "red", None, "circle") in O.facts(O.truncate(caption, 8))[0]


def test_parser_reads_counts_orientation_only_and_v4_positions():
    bound, _ = O.facts("Two red circles. An upside-down blue digit seven. Only a green star. "
                       "In the top left corner there is a large red circle. A cyan digit one is to the left of a star")
    assert ("count", "red", "circle", 2) in bound
    assert ("np", None, "blue", "upside-down", "digit seven") in bound
    assert ("only", ("np", None, "green", None, "star")) in bound
    assert ("pos", ("np", "large", "red", None, "circle"), "top left") in bound
    assert ("rel", ("np", None, "cyan", None, "digit one"), "to the left of", ("np", None, None, None, "star")) in bound
    assert not any(f[0] == "count" for f in O.facts("A cyan digit one")[0]), "'digit one' is a category"


def test_the_zero_shot_shortcuts_on_known_answers():
    """One object per scene: present-category is always right; every object in its category's typical colour with
    categories of distinct typical colours: colour-only is always right; chance is one over the categories."""
    cats = PRESETS["tiny"].categories[:4]  # the k-th category's typical colour is the k-th colour: all distinct
    one = ScenesConfig(image_size=32, n_train=60, n_val=8, n_test=24, shard_size=16, perception_pairs=3,
                       min_objects=1, max_objects=1, categories=cats, typical_colour_p=1.0)
    got = O.classification(one)
    assert got["present-category"] == 100 and got["colour-only"] == 100 and got["chance"] == 25
    v5 = O.classification(V5)
    assert v5["chance"] == 100 / len(V5.categories)
    assert 100 / 3 <= v5["present-category"] <= 50, "two or three categories in every v5 scene"


def test_v5_meets_its_gates_on_a_small_sample_and_v4_misses_them():
    """The gates of docs/benchmark.md on 48 test images (the full table: benchmarks/oracles.py)."""
    small_v4 = ScenesConfig(image_size=32, n_train=40, n_val=8, n_test=48, shard_size=16, perception_pairs=3)
    r5, r4 = O.retrieval(V5, O.CONTEXT), O.retrieval(small_v4, O.CONTEXT)
    assert r5["bag"]["i2t"] <= 0.4 * r5["bound"]["i2t"] and r5["bound"]["i2t"] >= 90
    assert r4["bag"]["i2t"] > 0.4 * r4["bound"]["i2t"]
    assert O.flip_invariance(V5) == 100 > O.flip_invariance(small_v4)
    comp = O.compositional(V5)
    assert all(v["length-only"] <= 55 and v["bound"] == 100 for v in comp.values())
    assert O.compositional(small_v4)["add-object"]["length-only"] == 100
    assert min(O.colour_survival(V5_COLOURS, views=50).values()) >= 95


def test_benchmark_v5_sets_the_data_and_the_rules_and_v4_runs_keep_their_fingerprints(tmp_path):
    from experiments import config as C
    from experiments.errors import ConfigError
    from experiments.scales import BENCHMARKS, caption_token_lengths, context_rule
    from methods.modules import OFFICIAL_EMA_HORIZON

    cosmos = C.resolve({"method": "cosmos", "benchmark": "v5"})
    assert (cosmos.data.scenes, cosmos.context_length, cosmos.cosmos.views,
            cosmos.cosmos.ema_horizon, cosmos.cosmos.local_size) == \
        ("tiny-v5", 48, "scaled", OFFICIAL_EMA_HORIZON, 0)
    clip = C.resolve({"method": "clip", "benchmark": "v5"})
    assert clip.data.scenes == "tiny-v5" and not hasattr(clip.clip, "views")  # only the fields a method has
    assert C.resolve({"method": "cosmos", "benchmark": "v5", "cosmos.views": "official"}).cosmos.views == \
        "official", "an explicit override still wins"
    for method in ("clip", "cosmos"):  # v5 is the tiny default; v4 is the plain tiny profile (the golden
        # fingerprints of tests/test_fingerprints.py hold every v4 cell's name from before v5 existed)
        assert C.resolve({"method": method}) == C.resolve({"method": method, "benchmark": "v5"})
        v4 = C.resolve({"method": method, "benchmark": "v4"})
        assert v4.data.scenes == "tiny" and v4.benchmark == "v4"
    assert C.resolve({"method": "clip", "scale": "small"}).benchmark == "", "no benchmark version off tiny"
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    for given in ("checkpoint", "init"):  # given weights keep their own text context
        assert C.resolve({"method": "clip", given: str(weights)}).context_length == 0
        assert C.resolve({"method": "clip", given: ""}).context_length == 48, "an empty path gives no weights"
    for method in ("cosmos", "silc"):  # an explicit teacher momentum runs as given: the horizon rule yields
        own = C.resolve({"method": method, f"{method}.ema_momentum": 0.95}).method_config
        assert (own.ema_momentum, own.ema_horizon) == (0.95, 0)
        assert C.resolve({"method": method}).method_config.ema_horizon == OFFICIAL_EMA_HORIZON
        both = C.resolve({"method": method, f"{method}.ema_momentum": 0.95, f"{method}.ema_horizon": 0.02}).method_config
        assert (both.ema_momentum, both.ema_horizon) == (0.95, 0.02), "a horizon set as well still wins"
    old = C.resolve({"method": "clip", "benchmark": "v4"}).to_dict()
    del old["benchmark"]  # a record from before the key existed was made on v4
    assert C.typed(old).benchmark == "v4"
    assert BENCHMARKS["v5"]["context_length"] == context_rule(caption_token_lengths("tiny-v5"))
    with pytest.raises(ConfigError, match="applies at scale=tiny only"):
        C.resolve({"method": "clip", "benchmark": "v5", "scale": "small"})
    with pytest.raises(ConfigError, match="unknown benchmark 'v9'"):
        C.resolve({"method": "clip", "benchmark": "v9"})


def test_the_ablations_momentum_rows_train_with_their_momentum_on_every_benchmark():
    from experiments import manifests
    from experiments.plan import cells

    for bench in ("v4", "v5"):
        for cell in cells(manifests.load("ablations"), "tiny", seeds=(0,), rows=["EMA momentum = 0.9",
                                                                               "EMA momentum = 0.999"],
                          overrides={"benchmark": bench}):
            own = cell.config.cosmos
            assert own.ema_horizon == 0 and str(own.ema_momentum) == cell.row.split("= ")[1], (bench, cell.row)


def test_the_shortcut_oracles_on_known_answers():
    """Binding reduced to the large object: its colour (and how many objects the caption puts above it) tells a
    rebinding of colours apart without binding the small ones; a caption without a large object gives neither."""
    a = Scene("gray", "smooth", 0, (_obj("circle", "red", "large", 40), _obj("star", "blue", "small", 2),
                                    _obj("cross", "green", "small", 60)))
    b = Scene("gray", "smooth", 0, (_obj("circle", "blue", "large", 40), _obj("star", "red", "small", 2),
                                    _obj("cross", "green", "small", 60)))
    caption = "A small blue star is above a large red circle. The red circle is above a small green cross."
    bound, bag = O.facts(caption)
    assert S._caption_large(bound) == ({"red"}, {1})  # one object (the star) above the large circle
    assert S._scene_large(a) == ("red", 1) and S._scene_large(b) == ("blue", 1)
    view = S.shortcut_views((bound, bag), "bag + large colour + rank")
    assert ("large", "red") in view and ("large-rank", 1) in view
    wa, wb = O.scene_facts(a, 5)[1], O.scene_facts(b, 5)[1]
    assert wa == wb, "one bag of words"
    for oracle in S.SHORTCUTS:
        v = S.shortcut_views((bound, bag), oracle)
        assert O._score(v, S.scene_shortcut(a, wa, oracle)) > O._score(v, S.scene_shortcut(b, wb, oracle))
    assert S._caption_large(O.facts("a small red star")[0]) == (set(), set())
    free = {S._shape_free(f) for f in bound}
    assert ("np", "large", "red", None) in free and not any("circle" in str(f) for f in free)


def test_the_shortcut_oracles_run_on_a_small_benchmark():
    cfg = V5
    short = S.shortcut_retrieval(cfg)
    plain = O.retrieval(cfg, O.CONTEXT)["bag"]
    assert short["bag + large colour"]["i2t"] >= plain["i2t"] - 1e-9
    assert short["bag + large colour + rank"]["t2i"] >= short["bag + large colour"]["t2i"] - 1e-9
    colour = S.large_colour_negatives(cfg)
    assert colour["replace-object"] == 50.0 and colour["swap-attribute"] >= 50.0
    assert 0 <= S.shape_free_batch(cfg, "random", batches=2) <= 100
