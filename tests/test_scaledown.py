"""The scale-down rules: the views' blur scaled with the crop size and the teacher's horizon tied to the run
length, each exact at the official size and length, with the values they give at the tiny profile."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

from experiments import config as C
from methods import METHODS, build_method
from methods.data import on_device
from methods.data.views import DINO_GLOBAL1, DINO_GLOBAL2, DINO_LOCAL, ImageView, PILGaussianBlur, image_pipeline
from methods.modules import OFFICIAL_EMA_HORIZON, horizon_momentum
from methods.multicrop import local_size_rule, view_augment

from .conftest import tiny_overrides

MULTICROP = [n for n, m in METHODS.items() if hasattr(m, "init_teacher")]


def test_the_official_horizon_gives_0_999_over_cc3m_and_the_same_share_of_a_short_run():
    assert horizon_momentum(OFFICIAL_EMA_HORIZON, 88_576) == pytest.approx(0.999, abs=1e-12)
    assert 1 / (1 - horizon_momentum(OFFICIAL_EMA_HORIZON, 1_000)) == pytest.approx(1_000 * OFFICIAL_EMA_HORIZON)
    assert horizon_momentum(OFFICIAL_EMA_HORIZON, 1_000) == pytest.approx(0.9114, abs=1e-4)  # the budget study
    assert horizon_momentum(OFFICIAL_EMA_HORIZON, 100) == pytest.approx(0.1142, abs=1e-4)  # the tiny profile
    assert horizon_momentum(OFFICIAL_EMA_HORIZON, 50) == 0.0  # a horizon under one step: the student itself


@pytest.mark.parametrize("name", MULTICROP)
def test_a_horizon_sets_the_momentum_of_each_ema_step_from_the_run_length(name):
    cfg = C.resolve(tiny_overrides(name, **{f"{name}.ema_horizon": 0.05}))
    torch.manual_seed(0)
    method = build_method(name, cfg.method_config, cfg.encoder)
    with torch.no_grad():
        for p in method.student.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in method.teacher.parameters()]
    method.on_before_step(0, 400)  # one of the two hooks updates; 0.05 of 400 steps = a 20-step horizon
    method.on_step_end(0, 400)
    m = 1 - 1 / 20
    for t0, t1, s in zip(before, method.teacher.parameters(), method.student.parameters()):
        assert torch.allclose(t1 - t0, (1 - m) * (s - t0), atol=1e-6)


def test_official_views_are_dino_exactly_and_scaled_views_are_official_at_the_official_sizes():
    for aug in (DINO_GLOBAL1, DINO_GLOBAL2):
        assert view_augment(aug, "official", 64) is aug
        assert view_augment(aug, "scaled", 224) == aug  # blur_scale 1: the official rule at 224 px
        assert view_augment(aug, "scaled", 64) == dataclasses.replace(aug, blur_scale=64 / 224)
    assert view_augment(DINO_LOCAL, "scaled", 96, 96) == DINO_LOCAL
    assert view_augment(DINO_LOCAL, "scaled", 32, 96).blur_scale == pytest.approx(1 / 3)  # the tiny local crops


def test_gentle_views_keep_only_the_scaled_blur():
    g = view_augment(DINO_GLOBAL2, "gentle", 64)
    assert (g.flip, g.jitter, g.gray, g.solarize) == (0.0, (), 0.0, 0.0)
    assert (g.blur, g.blur_scale) == (DINO_GLOBAL2.blur, 64 / 224)


@pytest.mark.parametrize("name", MULTICROP)
def test_the_views_rule_reaches_every_crop_of_a_method(name):
    cfg = C.resolve(tiny_overrides(name, **{f"{name}.views": "gentle"}))
    method = build_method(name, cfg.method_config, cfg.encoder)
    size, local = method.encoders.image_size, getattr(cfg, name).local_size
    views = method.image_views()
    assert views["global1"].augment.blur_scale == size / 224 and views["local"].augment.blur_scale == local / 96
    assert all(not v.augment.jitter and not v.augment.flip for v in views.values())
    with pytest.raises(C.ConfigError, match="unknown views 'soft'; valid choices: official, scaled, gentle"):
        C.resolve(tiny_overrides(name, **{f"{name}.views": "soft"}))


def test_the_blur_radius_scales_in_the_workers_and_on_the_device():
    img = Image.new("RGB", (64, 64))
    for scale in (1.0, 64 / 224):
        torch.manual_seed(3)
        u = float(torch.rand(()))
        seen = []
        blur = PILGaussianBlur(scale)
        img.filter = lambda f, seen=seen: seen.append(f.radius)  # the radius PIL is asked for
        torch.manual_seed(3)
        blur(img)
        assert seen[0] == pytest.approx((0.1 + 1.9 * u) * scale)
    torch.manual_seed(5)
    plain = on_device.draw(dataclasses.replace(DINO_GLOBAL1), 8)
    torch.manual_seed(5)
    scaled = on_device.draw(dataclasses.replace(DINO_GLOBAL1, blur_scale=0.25), 8)
    assert torch.allclose(scaled[:, on_device.SIGMA], plain[:, on_device.SIGMA] * 0.25)
    others = [i for i in range(plain.shape[1]) if i != on_device.SIGMA]
    assert torch.equal(scaled[:, others], plain[:, others])  # the same draws otherwise
    pipeline = image_pipeline(ImageView(64, augment=view_augment(DINO_GLOBAL1, "scaled", 64)))
    blurs = [op for t in pipeline.transforms for op in getattr(t, "transforms", []) if isinstance(op, PILGaussianBlur)]
    assert [b.scale for b in blurs] == [64 / 224]


def _rule(means: dict, gaps: dict):
    """The diagnosis manifest's decision on made-up numbers: seed-means and paired gaps (mean, lo, hi)."""
    from types import SimpleNamespace

    from experiments import manifests

    m = manifests.load("diagnosis")
    rows = {label.split()[0]: label for label in m.ROWS}
    mean = lambda row, metric: means.get(row.split()[0], 15.0)  # noqa: E731
    gap = lambda better, worse, metric: SimpleNamespace(  # noqa: E731
        **dict(zip(("mean", "lo", "hi"), gaps.get(better.split()[0], (0.0, -1.0, 1.0)))))
    assert set(rows) == {"R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}
    return "\n".join(m.DECISION(mean, gap))


def test_the_diagnosis_rule_gives_each_verdict_on_known_numbers():
    from experiments.manifests import diagnosis

    assert diagnosis._OFFICIAL_EMA_HORIZON == OFFICIAL_EMA_HORIZON
    assert "V1: an augmentation x benchmark artefact" in _rule({"R2": 11.0}, {"R5": (7.0, 3.0, 11.0)})
    assert "V3: not decided" in _rule({"R2": 11.0}, {"R5": (7.0, -1.0, 15.0)})  # B needs the interval above 0
    assert "V2a: the text crops" in _rule({"R2": 18.0}, {"R5": (1.0, -2.0, 4.0), "R6": (4.0, 1.0, 7.0)})
    assert "V2b: COSMOS's objective" in _rule({"R2": 18.0}, {"R5": (1.0, -2.0, 4.0), "R6": (4.0, -1.0, 9.0)})
    assert "V3: not decided" in _rule({"R2": 14.0}, {"R5": (4.0, 1.0, 7.0)})
    assert "the EMA teacher matters" in _rule({"R2": 14.0}, {"R4": (-3.5, -6.0, -1.0)})
    assert "the EMA does not explain the gap" in _rule({"R2": 14.0}, {"R3": (3.5, -1.0, 8.0)})
    assert _rule({"R2": float("nan")}, {}) == "not all rows have run yet: no decision"
    assert "V1" in _rule({"R2": 11.0, "R7": float("nan")}, {"R5": (7.0, 3.0, 11.0)}), "R7, R8 are outside the rule"


def test_the_local_crop_rule_is_official_at_224_px_and_keeps_a_token_grid_at_64():
    assert local_size_rule(224, 16) == 96  # the official 6x6 token grid
    assert local_size_rule(64, 16) == 32  # the tiny profile's local crops: 2x2 tokens
    assert local_size_rule(64, 8) == 32  # patch 8: 4x4 tokens (globals 8x8)
    assert local_size_rule(32, 8) == 16
    assert local_size_rule(16, 16) == 16  # never under one patch
    for size, patch in ((224, 16), (224, 14), (64, 8), (96, 8)):  # at least the official share, within a patch
        assert 96 / 224 <= local_size_rule(size, patch) / size < 96 / 224 + patch / size


@pytest.mark.parametrize("name", MULTICROP)
def test_local_size_0_takes_the_rule(name):
    cfg = C.resolve(tiny_overrides(name, **{f"{name}.local_size": 0}))
    method = build_method(name, cfg.method_config, cfg.encoder)
    assert method.image_views()["local"].size == local_size_rule(32, 8) == 16


def test_the_context_rule_holds_every_test_caption(scenes):
    from experiments.scales import caption_token_lengths, context_rule

    assert context_rule([77]) == 80 and context_rule([111, 20]) == 112 and context_rule([8]) == 8
    lengths = caption_token_lengths("test", encoder="ViT-Micro-8-32")
    context = context_rule(lengths)
    assert context % 8 == 0 and max(lengths) <= context < max(lengths) + 8
    assert sum(n > 16 for n in lengths) > len(lengths) / 2  # the micro encoder's own 16 tokens cut most of them
    cfg = C.resolve(tiny_overrides("clip", context_length=context))
    method = build_method("clip", cfg.method_config, cfg.encoder, cfg.context_length)
    assert method.encoders.context_length == context
    assert method.encoders.model.positional_embedding.shape[0] == context
    assert method.encoders.tokenizer()(["a red square"]).shape == (1, context)
    with pytest.raises(C.ConfigError, match=r"context_length=-1 must lie in \[0, 1024\] tokens"):
        C.resolve(tiny_overrides("clip", context_length=-1))


def test_context_length_0_keeps_every_logged_fingerprint():
    cfg = C.resolve(tiny_overrides("clip", benchmark="v4"))  # v5 sets a context of its own
    assert cfg.context_length == 0
    assert C.fingerprint(cfg) != C.fingerprint(C.resolve(tiny_overrides("clip", benchmark="v4", context_length=16)))
    plain = {k: v for k, v in cfg.to_dict().items() if k != "context_length"}  # a config logged before the key existed
    assert C.fingerprint(plain) == C.fingerprint(cfg)


def test_the_diagnosis_ruled_rows_follow_the_rules():
    from experiments.manifests import diagnosis
    from experiments.scales import caption_token_lengths, context_rule

    lengths = caption_token_lengths("tiny")  # benchmark v4's 3,000 test long captions, from the generator
    assert len(lengths) == 3000 and max(lengths) == 111 and context_rule(lengths) == 112
    assert sum(n > 32 for n in lengths) / len(lengths) == pytest.approx(0.775)  # cut by the tiny encoders' 32
    cosmos, clip = diagnosis.ROWS["R7 COSMOS, ruled profile"], diagnosis.ROWS["R8 CLIP, ruled profile"]
    assert cosmos["context_length"] == clip["context_length"] == context_rule(lengths)
    assert cosmos["encoder"] == clip["encoder"] == "ViT-Tiny-8-64"
    assert cosmos["cosmos.ema_horizon"] == OFFICIAL_EMA_HORIZON and cosmos["cosmos.views"] == "scaled"
    assert local_size_rule(64, 8) == 32 and cosmos["cosmos.local_size"] == 0
