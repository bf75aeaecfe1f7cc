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
