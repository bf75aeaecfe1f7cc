"""Zero-shot segmentation: known answers for SCLIP's protocol pieces, correlative self-attention against its
formula, and end-to-end runs on the benchmark."""

from __future__ import annotations

import math

import pytest
import torch

from methods.evals import sclip as S


def test_confusion_and_miou_known_answer():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 2]])
    conf = S.confusion(pred, gt, 3)
    assert conf.sum() == 6  # ignored pixels left out
    # IoU: class 0: tp 1, union 1+2+... = |gt0 ∪ pred0| = 3; class 1: tp 2, union 3; class 2: tp 1, union 2
    out = S.miou(conf)
    assert abs(out["miou"] - 100 * (1 / 3 + 2 / 3 + 1 / 2) / 3) < 1e-6
    assert abs(out["pixel_acc"] - 100 * 4 / 6) < 1e-6


def test_class_probabilities_softmax_over_all_queries_then_max_over_synonyms():
    logits = torch.tensor([0.5, 0.2, 0.1]).reshape(3, 1, 1)  # queries: class 0 = {a, b}, class 1 = {c}
    prob = S.class_probabilities(logits, torch.tensor([0, 0, 1]), logit_scale=10.0)
    e = [math.exp(10 * v) for v in (0.5, 0.2, 0.1)]
    assert prob.shape == (2, 1, 1)
    assert abs(prob[0].item() - e[0] / sum(e)) < 1e-6 and abs(prob[1].item() - e[2] / sum(e)) < 1e-6


def test_predict_thresholds_to_background_and_drops_small_areas():
    logits = torch.zeros(3, 4, 4)  # class 0 = background (named), 1, 2
    logits[0] = 0.05  # background slightly ahead elsewhere (an exact tie would be UNDECIDED)
    logits[1, :2] = 1.0  # confident class 1 on the top half
    logits[2, 3, 3] = 1.0  # one confident pixel of class 2
    owner = torch.arange(3)
    label = S.predict(logits, owner, S.SegmentationProtocol(logit_scale=50.0, prob_threshold=0.9))
    assert (label[:2] == 1).all() and label[3, 3] == 2 and (label[2] == 0).all()
    # class 2 covers 1 of the 9 foreground pixels (11%): kept at threshold 0.1, dropped at 0.2 (SCLIP compares
    # with the predicted non-background area); its pixel then falls below the probability threshold -> 0
    p = S.SegmentationProtocol(logit_scale=50.0, prob_threshold=0.9, area_threshold=0.1)
    assert S.predict(logits, owner, p)[3, 3] == 2
    dropped = S.predict(logits, owner, S.SegmentationProtocol(logit_scale=50.0, prob_threshold=0.9,
                                                             area_threshold=0.2))
    assert dropped[3, 3] == 0 and (dropped[:2] == 1).all()


def test_windows_cover_the_image_like_mmseg():
    assert S.windows(448, 224, 112) == [0, 112, 224]
    assert S.windows(500, 224, 112) == [0, 112, 224, 276]  # the last window flush with the edge
    assert S.windows(100, 224, 112) == [0]  # smaller than a window: one crop of the whole image
    assert S.windows(64, 64, 32) == [0]


def test_dense_logits_per_query_with_overlapping_windows_averaged():
    text = torch.eye(2)

    def tokens(x):  # each 8x8 window: query 0 scores its mean pixel value, query 1 scores 0
        t = torch.zeros(1, 1, 2)
        t[0, 0, 0] = x.mean()
        return t

    image = torch.zeros(3, 8, 16)
    image[:, :, 8:] = 1.0  # windows at x = 0 (mean 0), 4 (mean 0.5), 8 (mean 1)
    out = S.dense_logits(tokens, image, text, window=8, stride=4, patch=8)
    assert out.shape == (2, 8, 16) and out[1].abs().max() == 0
    assert torch.allclose(out[0, 0], torch.tensor([0.0] * 4 + [0.25] * 4 + [0.75] * 4 + [1.0] * 4))
    # leading dims of the features (plain / CSA variants) carry through
    both = S.dense_logits(lambda x: torch.stack([tokens(x), 2 * tokens(x)]), image, text, window=8, stride=4, patch=8)
    assert both.shape == (2, 2, 8, 16) and torch.allclose(both[0], out) and torch.allclose(both[1], 2 * out)


def _reference_csa(attn: torch.nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """The formula, one head and one image at a time."""
    b, n, w = x.shape
    h, d = attn.num_heads, w // attn.num_heads
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)
    out = torch.zeros(b, n, w)
    for i in range(b):
        q, k, v = x[i] @ wq.T + bq, x[i] @ wk.T + bk, x[i] @ wv.T + bv
        for j in range(h):
            s = slice(j * d, (j + 1) * d)
            qq, kk = q[:, s] @ q[:, s].T / math.sqrt(d), k[:, s] @ k[:, s].T / math.sqrt(d)
            a = torch.softmax(qq, -1) + torch.softmax(kk, -1)
            out[i, :, s] = a @ v[:, s]
    return attn.out_proj(out)


def test_correlative_self_attention_matches_its_formula_and_only_changes_the_last_block():
    from methods.encoders import build_encoders, correlative_attention

    torch.manual_seed(0)
    enc = build_encoders("ViT-Micro-8-32").eval()
    blk = enc.model.visual.transformer.resblocks[-1]
    x = torch.randn(2, 5, enc.image_width)
    with torch.no_grad():
        assert torch.allclose(correlative_attention(blk.attn, x), _reference_csa(blk.attn, x), atol=1e-5)
        img = torch.randn(2, 3, 32, 32)
        plain, csa = enc.image_forward(img)[1], enc.image_forward(img, csa=True)[1]
        assert torch.allclose(enc.image_forward(img)[0], enc.model.encode_image(img), atol=1e-5)
        assert not torch.allclose(plain, csa, atol=1e-3)
        assert torch.allclose(enc.dense_tokens(img), torch.stack([plain, csa]), atol=1e-5)  # one shared trunk
        # by hand: every block but the last as open_clip runs them, then the last with CSA, residuals and MLP kept
        v = enc.model.visual
        h = v.ln_pre(torch.cat([v.class_embedding.expand(2, 1, -1), v.conv1(img).flatten(2).transpose(1, 2)], 1)
                     + v.positional_embedding)
        for b in v.transformer.resblocks[:-1]:
            h = b(h)
        h = h + correlative_attention(blk.attn, blk.ln_1(h))
        h = h + blk.mlp(blk.ln_2(h))
        assert torch.allclose(v.ln_post(h[:, 1:]), csa, atol=1e-5)


def test_segmentation_runs_on_the_benchmark_plain_and_with_csa(scenes):
    from methods import build_method
    from methods.clip import CLIPConfig
    from methods.evals import EvalConfig, evaluate

    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("segmentation/scenes",)), scenes)
    for k in ("miou", "miou_csa", "pixel_acc", "pixel_acc_csa"):
        assert 0 <= out[f"segmentation/scenes/{k}"] <= 100
    assert out["segmentation/scenes/skipped_images"] == 0


@pytest.mark.parametrize("name", ["voc21", "voc20", "context60", "context59", "ade20k", "cocostuff", "cocoobject",
                                  "cityscapes"])
def test_real_benchmark_class_lists_have_their_standard_sizes(name):
    from methods.evals.segsets import BENCHMARKS

    sizes = {"voc21": 21, "voc20": 20, "context60": 60, "context59": 59, "ade20k": 150, "cocostuff": 171,
             "cocoobject": 81, "cityscapes": 19}
    b = BENCHMARKS[name]
    assert len(b.classes) == sizes[name] == len(set(b.classes))
    assert (b.classes[0] == "background") == (b.protocol.prob_threshold > 0)  # with-background sets name it 0
