"""Methods through one contract: loss parity with hand-computed references, teacher isolation, EMA, views."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from experiments import config as C
from methods import METHODS, build_method
from methods.data.views import (
    ImageView,
    TextView,
    build_texts,
    local_sentences,
    mask_words,
    random_batch,
    sentence_pool,
)
from methods.losses import cosmos, dino, dino_targets, info_nce, multi_info_nce, simclr
from methods.modules import EMATeacher, ema_momentum

from .conftest import tiny_overrides


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _build(name, **extra):
    cfg = C.resolve(tiny_overrides(name, **extra))
    torch.manual_seed(0)
    return build_method(name, cfg.method_config, cfg.encoder)


def _batch(method, b=4):
    """Random views with 10 real tokens of 16, so text padding exists (the padding-mask test needs it)."""
    return random_batch(method.views, b, method.encoders.context_length, length=10, seed=1)


# ---- losses against references written out term by term --------------------------------------------------


def test_multi_info_nce_is_the_mean_over_view_pairs():
    a, b, s = _unit(3, 6, 8, seed=1), _unit(2, 6, 8, seed=2), torch.tensor(2.0)
    expected = torch.stack([info_nce(a[i], b[j], s) for i in range(3) for j in range(2)]).mean()
    assert torch.allclose(multi_info_nce(a, b, s), expected, atol=1e-6)


def test_simclr_matches_a_loop_over_anchors():
    z1, z2, t = torch.randn(5, 7), torch.randn(5, 7), 0.1
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    n, terms = 5, []
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        others = [j for j in range(2 * n) if j != i]
        logits = torch.stack([z[i] @ z[j] / t for j in others])
        terms.append(-(z[i] @ z[pos] / t - torch.logsumexp(logits, 0)))
    assert torch.allclose(simclr(z1, z2, t), torch.stack(terms).mean(), atol=1e-5)


def test_dino_loss_centres_sharpens_and_skips_same_view_pairs():
    s, t, c = torch.randn(4, 3, 10), torch.randn(2, 3, 10), torch.randn(1, 10)
    terms = []
    for i in range(2):
        p = F.softmax((t[i] - c) / 0.04, dim=-1)
        for v in range(4):
            if v != i:
                terms.append(-(p * F.log_softmax(s[v] / 0.1, dim=-1)).sum(-1).mean())
    assert len(terms) == 6
    assert torch.allclose(dino(s, dino_targets(t, c, 0.04), 0.1), torch.stack(terms).mean(), atol=1e-5)


def test_cosmos_loss_is_the_quarter_sum_of_four_view_set_terms():
    si, st, ti, tt, s = _unit(4, 5, 8, seed=1), _unit(3, 5, 8, seed=2), _unit(2, 5, 8, seed=3), \
        _unit(2, 5, 8, seed=4), torch.tensor(math.log(1 / 0.07))

    def P(A, B):
        return torch.stack([info_nce(a, b, s) for a in A for b in B]).mean()

    full = (P(si, ti) + P(si, tt) + P(st, ti) + P(st, tt)) / 4
    assert torch.allclose(cosmos(si, st, ti, tt, s), full, atol=1e-5)
    assert torch.allclose(cosmos(si, None, ti, tt, s), (P(si, ti) + P(si, tt)) / 4, atol=1e-5)


def test_cosmos_loss_detaches_the_teacher():
    ti = _unit(2, 5, 8).requires_grad_()
    cosmos(_unit(3, 5, 8, seed=2).requires_grad_(), None, ti, _unit(2, 5, 8, seed=3), torch.tensor(1.0)).backward()
    assert ti.grad is None


# ---- every method through the contract ------------------------------------------------------------------


@pytest.mark.parametrize("name,contrastive", [(m, c) for c in ("softmax", "sigmoid") for m in METHODS])
def test_gradients_reach_the_student_and_never_the_teacher(name, contrastive):
    method = _build(name, **{f"{name}.contrastive": contrastive})
    assert (method.encoders.logit_bias is not None) == (contrastive == "sigmoid")
    out = method(_batch(method))
    assert {"loss", "clip_loss"} <= set(out) and torch.isfinite(out["loss"])
    out["loss"].backward()
    teacher = {id(p) for m in method.modules() if isinstance(m, EMATeacher) for p in m.parameters()}
    for pname, p in method.named_parameters():
        if id(p) in teacher:
            assert p.grad is None and not p.requires_grad, pname
        elif p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"{pname} got no gradient"
    encoded = method.encode_image(torch.randn(2, 3, 32, 32))
    assert torch.allclose(encoded.norm(dim=-1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_the_state_dict_holds_each_tensor_once(name):
    state = _build(name).state_dict(keep_vars=True)
    ptrs = [t.data_ptr() for t in state.values() if t.numel()]
    assert len(ptrs) == len(set(ptrs)), "a tensor is saved under two names"
    assert not any(k.startswith("student.") for k in state)


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if hasattr(m, "init_teacher")])
def test_one_ema_step_moves_the_teacher_by_one_minus_m_times_the_gap(name):
    method = _build(name)
    with torch.no_grad():
        for p in method.student.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in method.teacher.parameters()]
    from methods.modules import ema_momentum, horizon_momentum

    cfg = method.cfg  # the base momentum: ema_momentum, or the horizon's share of the 10 steps (v5's rule)
    base = horizon_momentum(cfg.ema_horizon, 10) if cfg.ema_horizon else cfg.ema_momentum
    m = ema_momentum(base, cfg.ema_schedule, 0, 10)
    method.on_before_step(0, 10)  # one of the two hooks updates, by the method's ema_order
    method.on_step_end(0, 10)
    for t0, t1, s in zip(before, method.teacher.parameters(), method.student.parameters()):
        assert torch.allclose(t1 - t0, (1 - m) * (s - t0), atol=1e-6)


def test_cosine_momentum_runs_from_base_to_one():
    assert ema_momentum(0.99, "cosine", 0, 100) == pytest.approx(0.99)
    assert ema_momentum(0.99, "cosine", 100, 100) == pytest.approx(1.0)
    assert ema_momentum(0.99, "fixed", 50, 100) == 0.99


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if hasattr(m, "init_teacher")])
def test_evaluation_weights_are_switchable(name):
    for weights in ("student", "teacher"):
        cfg = C.resolve(tiny_overrides(name, **{f"{name}.eval_weights": weights}))
        method = build_method(name, cfg.method_config, cfg.encoder)
        expected = method.teacher_encoders() if weights == "teacher" else method.encoders
        assert method.eval_encoders() is expected


# ---- COSMOS switches: every Table 5 row is a config ------------------------------------------------------


TABLE5 = {
    "multi-crop": {"image_distill": False, "text_distill": False, "cross_attention": False,
                   "clip_on_local_crops": True, "caption": "random", "global_texts": 1, "local_texts": 0},
    "+image distill": {"text_distill": False, "cross_attention": False, "caption": "random", "global_texts": 1,
                       "local_texts": 0},
    "+text crops": {"text_distill": False, "cross_attention": False},
    "+text distill": {"cross_attention": False},
    "+cross-attention": {},
}


@pytest.mark.parametrize("row", TABLE5)
def test_every_table5_row_trains_as_a_cosmos_config(row):
    cfg = C.resolve(tiny_overrides("cosmos", **{f"cosmos.{k}": v for k, v in TABLE5[row].items()}))
    method = build_method("cosmos", cfg.method_config, cfg.encoder)
    out = method(_batch(method))
    out["loss"].backward()
    assert ("distill_loss" in out) == (row != "multi-crop")
    unused = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"parameters without gradient break DDP: {unused}"


def test_padding_mask_changes_cross_attention_only_when_enabled():
    base = _build("cosmos")
    torch.manual_seed(0)
    masked = build_method("cosmos", C.resolve(tiny_overrides(
        "cosmos", **{"cosmos.mask_text_padding": True})).method_config, "ViT-Micro-8-32")
    masked.load_state_dict(base.state_dict())
    batch = _batch(base)
    assert not torch.allclose(base(batch)["distill_loss"], masked(batch)["distill_loss"])


# ---- text crops ----------------------------------------------------------------------------------------


RECORD = {"raw_caption": ["a dog"], "short_captions": [["a dog on grass"], ["a brown dog"]],
          "long_captions": [["a brown dog stands on green grass", "the sky is blue", "a tree is behind it"]]}


@pytest.mark.parametrize("seed", range(20))
def test_text_crops_follow_the_official_sampling_rules(seed):
    pool = sentence_pool(RECORD)
    assert len(pool) == 6
    texts = build_texts(RECORD, TextView("textcrop", 2, 6, max_sentences=5), random.Random(seed))
    assert len(texts) == 8
    for crop in texts[:2]:
        sentences = [s.strip() for s in crop.rstrip(".").split(". ")]
        assert 1 <= len(sentences) <= 5 and len(set(sentences)) == len(sentences)  # no replacement in a crop
        assert set(sentences) <= set(pool)
    locals_ = [t.rstrip(".") for t in texts[2:]]
    assert sorted(locals_) == sorted(pool)  # 6 from a pool of 6: one draw without replacement = the whole pool


def test_local_sentences_repeat_a_small_pool_then_sample_the_rest():
    pool = ["a", "b", "c"]
    out = local_sentences(pool, 7, random.Random(0))
    assert out[:6] == pool * 2 and out[6] in pool
    assert sorted(local_sentences(["x"], 3, random.Random(0))) == ["x", "x", "x"]


def test_masked_word_view_drops_about_the_ratio():
    text = " ".join(f"w{i}" for i in range(1000))
    kept = mask_words(text, 0.15, random.Random(0)).split()
    assert 800 < len(kept) < 900 and set(kept) <= set(text.split())


def test_caption_modes_and_local_views_are_validated():
    with pytest.raises(ValueError, match="textcrop"):
        TextView("sentences")
    with pytest.raises(ValueError, match="masked"):
        TextView("textcrop", local="words")
    texts = build_texts(RECORD, TextView("raw", 2, 2, local="masked", mask_ratio=0.0), random.Random(0))
    assert texts == ["a dog.", "a dog.", "a dog.", "a dog."]


@pytest.mark.parametrize("name", METHODS)
def test_declared_views_are_built_by_the_pipeline(name, scenes):
    from methods.data.stream import decode_sample, read_all
    from methods.data.views import ViewBuilder

    method = _build(name)
    sample = decode_sample(next(iter(read_all(sorted(map(str, (scenes / "train").glob("*.tar")))))))
    views = ViewBuilder(method.views, method.encoders.tokenizer())(sample, seed=3)
    assert set(views) == set(method.views)
    for key, spec in method.views.items():
        if isinstance(spec, ImageView):
            expected = (3, spec.size, spec.size) if spec.n == 1 else (spec.n, 3, spec.size, spec.size)
        else:
            expected = (16,) if spec.n == 1 else (spec.n, 16)
        assert tuple(views[key].shape) == expected, key
    again = ViewBuilder(method.views, method.encoders.tokenizer())(sample, seed=3)
    assert all(torch.equal(views[k], again[k]) for k in views)


@pytest.mark.parametrize("name", METHODS)
def test_the_sigmoid_switch_changes_the_image_text_term_only(name):
    """With contrastive=sigmoid the image-text term is SigLIP's on the same embeddings (temperature 10 and bias
    -10 at initialisation, the bias without weight decay), every other term as with softmax: SLIP's SimCLR, SiLC's
    DINO and COSMOS's distillation are self-distillation, not image-text pairing (methods/contrastive.py)."""
    soft, sig = _build(name), _build(name, **{f"{name}.contrastive": "sigmoid"})
    assert sig.encoders.logit_scale.exp().item() == pytest.approx(10.0)
    assert sig.encoders.logit_bias.item() == -10.0 and soft.encoders.logit_bias is None
    no_decay = next(g for g in sig.param_groups(0.1) if g["weight_decay"] == 0.0)["params"]
    assert any(p is sig.encoders.logit_bias for p in no_decay)
    sig.load_state_dict({k: v for k, v in soft.state_dict().items()} | {
        "encoders.model.logit_scale": sig.encoders.logit_scale.detach().clone(),
        "encoders.model.logit_bias": sig.encoders.logit_bias.detach().clone()}, strict=False)
    a, b = soft(_batch(soft)), sig(_batch(sig))
    others = sorted(k for k in a if k.endswith("_loss") and k != "clip_loss")
    for k in others:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    assert not torch.allclose(a["clip_loss"], b["clip_loss"]) and "logit_bias" in b and "logit_bias" not in a
