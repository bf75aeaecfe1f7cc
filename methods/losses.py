"""Pure loss functions. Every input is documented with its shape; features are L2-normalised rows."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distributed import gather_features


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE, 1/2 [CE(s a b^T, I) + CE(s b a^T, I)], over the global batch.

    a, b: (B, D) this rank's normalised features, row i of a paired with row i of b.
    logit_scale: scalar log-temperature parameter; s = exp(logit_scale) (CLIP, Radford et al. 2021).
    Negatives are the other samples of the batch gathered across ranks; only this rank's rows carry gradient.
    """
    a_all, b_all = gather_features(a), gather_features(b)
    logits = logit_scale.exp() * a_all @ b_all.T
    labels = torch.arange(len(a_all), device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
