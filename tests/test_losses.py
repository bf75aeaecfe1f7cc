"""Loss parity with open_clip and with the formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from methods.losses import info_nce


@pytest.mark.parametrize("seed", range(3))
def test_info_nce_matches_open_clip_cliploss(seed):
    g = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(12, 8, generator=g), dim=-1)
    b = F.normalize(torch.randn(12, 8, generator=g), dim=-1)
    scale = torch.tensor(math.log(1 / 0.07))
    assert torch.allclose(info_nce(a, b, scale), ClipLoss()(a, b, scale.exp()), atol=1e-6)


def test_info_nce_by_hand_on_two_pairs():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s = 2.0
    # logits diag s, off-diag 0: CE = -log(e^s / (e^s + 1)) in both directions
    expected = -math.log(math.exp(s) / (math.exp(s) + 1))
    assert info_nce(a, b, torch.tensor(math.log(s))).item() == pytest.approx(expected, rel=1e-6)


def test_dino_health_reads_uniform_collapsed_and_diverse_teachers():
    from methods.losses import dino_health as health, dino_targets

    def dino_health(t, c, temp):
        return health(dino_targets(t, c, temp))

    k, center = 16, torch.zeros(1, 16)
    uniform = dino_health(torch.zeros(2, 4, k), center, 0.04)
    assert uniform["teacher_entropy"] == pytest.approx(math.log(k)) and uniform["teacher_kl"] == pytest.approx(0)
    one = torch.zeros(2, 4, k)
    one[..., 3] = 10.0  # every image sharp on the same dimension: collapsed
    collapsed = dino_health(one, center, 0.04)
    assert collapsed["teacher_entropy"] < 1e-3 and collapsed["teacher_kl"] < 1e-3
    diverse = torch.zeros(2, 4, k)
    diverse[:, torch.arange(4), torch.arange(4)] = 10.0  # sharp on a different dimension per image
    h = dino_health(diverse, center, 0.04)
    assert h["teacher_entropy"] < 1e-3 and h["teacher_kl"] == pytest.approx(math.log(4), abs=1e-3)


@pytest.mark.parametrize("seed", range(3))
def test_the_sigmoid_loss_matches_open_clip_siglip_in_float64(seed):
    """methods.contrastive.multi_sigmoid on one view pair is open_clip's SigLipLoss (one process), value and
    gradients, in float64; over several views it is the mean over view pairs."""
    from open_clip.loss import SigLipLoss

    from methods.contrastive import SIGLIP_INIT, multi_sigmoid

    g = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(12, 8, generator=g, dtype=torch.float64), dim=-1).requires_grad_()
    b = F.normalize(torch.randn(12, 8, generator=g, dtype=torch.float64), dim=-1).requires_grad_()
    scale = torch.tensor(SIGLIP_INIT["init_logit_scale"] + 0.3 * seed, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(SIGLIP_INIT["init_logit_bias"] + seed, dtype=torch.float64, requires_grad=True)
    ours = multi_sigmoid(a[None], b[None], scale, bias)
    theirs = SigLipLoss()(a, b, scale.exp(), bias)
    assert abs(ours.item() - theirs.item()) < 1e-12
    g_ours = torch.autograd.grad(ours, (a, b, scale, bias))
    g_theirs = torch.autograd.grad(theirs, (a, b, scale, bias))
    for x, y in zip(g_ours, g_theirs):
        assert torch.allclose(x, y, atol=1e-12, rtol=0)
    views_a = F.normalize(torch.randn(2, 5, 8, generator=g, dtype=torch.float64), dim=-1)
    views_b = F.normalize(torch.randn(3, 5, 8, generator=g, dtype=torch.float64), dim=-1)
    pairs = [SigLipLoss()(views_a[i], views_b[j], scale.exp(), bias) for i in range(2) for j in range(3)]
    assert torch.allclose(multi_sigmoid(views_a, views_b, scale, bias), torch.stack(pairs).mean(), atol=1e-12)


def test_the_sigmoid_loss_by_hand_on_two_pairs():
    """Two orthogonal pairs, t = 2, b = -1: own pairs score 2 - 1 = 1, the others -1, all with label sign +:
    -1/2 * 4 * log sigmoid(1)."""
    from methods.contrastive import multi_sigmoid

    eye = torch.eye(2)[None]
    got = multi_sigmoid(eye, eye, torch.tensor(math.log(2.0)), torch.tensor(-1.0)).item()
    assert got == pytest.approx(-2 * math.log(1 / (1 + math.exp(-1.0))), rel=1e-6)
