"""DreamLIP (methods/dreamlip.py): its views drawn as the official data code draws them, its two loss terms
against reference formulas written per sample from the paper and the official loss, and its switches.
The float64 check against the official loss module itself is benchmarks/dreamlip_parity.py (it needs the
official repository; its output is benchmarks/results/dreamlip_parity.json)."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from methods import build_method
from methods.data.views import TextView, build_texts, recaption_pool, subcaptions
from methods.dreamlip import DreamLIPConfig
from methods.losses import info_nce, subcaption_grouping

RECORD = {"raw_caption": ["a dog on grass"], "short_captions": [["a brown dog"], ["a dog outside"]],
          "long_captions": [["The dog is brown", "It sits on green grass", "The sky is blue"]]}


def official_draw_numbers(n: int, k: int, rng: random.Random) -> list[int]:
    """DreamLIP training/data.py draw_numbers, with the generator passed in."""
    population = list(range(0, n))
    return rng.sample(population, k) if n >= k else rng.choices(population, k=k)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [3, 6])
def test_subcaptions_are_drawn_as_the_official_draw_numbers(seed, k):
    pool = recaption_pool(RECORD)
    assert pool == ["a brown dog", "a dog outside", "The dog is brown", "It sits on green grass", "The sky is blue"]
    expected = [pool[i] for i in official_draw_numbers(len(pool) - 1, k, random.Random(seed))]
    assert subcaptions(pool, k, random.Random(seed)) == expected
    assert "The sky is blue" not in expected  # the official code never draws the pool's last sentence


def test_the_text_view_is_the_alt_text_then_the_subcaptions():
    texts = build_texts(RECORD, TextView("raw", 1, 6, local="subcaption"), random.Random(0))
    assert len(texts) == 7 and texts[0].startswith("a dog on grass")
    assert set(texts[1:]) <= set(recaption_pool(RECORD))
    plain = {"raw_caption": ["just alt text. and more"], "short_captions": [], "long_captions": []}
    assert len(build_texts(plain, TextView("raw", 1, 3, local="subcaption"), random.Random(0))) == 4


def grouping_by_hand(texts, patches, scale, layout):
    """Per (sample, text), as the paper's grouping: min-max similarities over patches, weights summing to 1, the
    grouped embedding; then InfoNCE between all texts and all grouped embeddings."""
    t, b, d = texts.shape
    if layout == "own":
        pairs = [(n, texts[i, n]) for n in range(b) for i in range(t)]
    else:  # the released reshape: flat text-major row r = i * B + n goes to sample r // T
        flat = [texts[i, n] for i in range(t) for n in range(b)]
        pairs = [(r // t, flat[r]) for r in range(b * t)]
    rows, grouped = [], []
    for n, text in pairs:
        p = F.normalize(patches[n], dim=-1)
        s = p @ text
        w = (s - s.min()) / (s.max() - s.min() + 1e-10)
        g = (w[:, None] * p).sum(0) / w.sum()
        rows.append(text)
        grouped.append(F.normalize(g, dim=0))
    return info_nce(torch.stack(rows), torch.stack(grouped), scale)


@pytest.mark.parametrize("layout", ["own", "official"])
def test_the_grouping_loss_equals_its_per_sample_formula(layout):
    g = torch.Generator().manual_seed(3)
    texts = F.normalize(torch.randn(4, 5, 8, generator=g, dtype=torch.float64), dim=-1)
    patches = torch.randn(5, 6, 8, generator=g, dtype=torch.float64)
    scale = torch.tensor(2.0, dtype=torch.float64)
    got = subcaption_grouping(texts, patches, scale, layout=layout)
    torch.testing.assert_close(got, grouping_by_hand(texts, patches, scale, layout), rtol=1e-12, atol=0)
    other = subcaption_grouping(texts, patches, scale, layout="own" if layout == "official" else "official")
    assert abs(float(got - other)) > 1e-6  # the two layouts are different losses once B > 1


def test_the_grouping_threshold_drops_weak_patches():
    g = torch.Generator().manual_seed(4)
    texts = F.normalize(torch.randn(2, 3, 8, generator=g, dtype=torch.float64), dim=-1)
    patches = torch.randn(3, 6, 8, generator=g, dtype=torch.float64)
    scale = torch.tensor(1.0, dtype=torch.float64)
    base = subcaption_grouping(texts, patches, scale, delta=0.0)
    assert float((subcaption_grouping(texts, patches, scale, delta=0.9) - base).abs()) > 1e-6
    with pytest.raises(ValueError, match="grouping norm"):
        subcaption_grouping(texts, patches, scale, norm="l2")


def test_the_multi_positive_term_is_the_mean_over_texts_and_the_total_adds_the_grouping():
    torch.manual_seed(0)
    m = build_method("dreamlip", DreamLIPConfig(num_text=3), "ViT-Tiny-16-64").double()
    from methods.data.views import random_batch

    batch = random_batch(m.views, 6, m.encoders.context_length, length=8, seed=2)
    batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
    f = m.features(batch)
    assert f["text"].shape[:2] == (6, 4) and f["patches"].shape[0] == 6
    out = m.loss(f)
    per_text = torch.stack([info_nce(f["image"], f["text"][:, i], m.encoders.logit_scale) for i in range(4)])
    torch.testing.assert_close(out["clip_loss"], per_text.mean(), rtol=1e-12, atol=0)
    torch.testing.assert_close(out["loss"], out["clip_loss"] + out["grouping_loss"], rtol=1e-12, atol=0)
    off = build_method("dreamlip", DreamLIPConfig(sgl_weight=0.0), "ViT-Tiny-16-64")
    assert not hasattr(off, "grouping") and "grouping_loss" not in off(
        random_batch(off.views, 4, off.encoders.context_length, seed=0))


@pytest.mark.parametrize("bad", [{"num_text": -1}, {"sgl_norm": "l2"}, {"grouping_texts": "mine"},
                                 {"sgl_weight": -1.0}])
def test_bad_settings_are_one_line_errors(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DreamLIPConfig(**bad)
