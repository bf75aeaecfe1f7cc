"""The image-text contrastive term, a switch of every method: softmax InfoNCE (CLIP) or the sigmoid loss (SigLIP).

SigLIP (Zhai et al., ICCV 2023, arXiv 2303.15343) scores every image-text pair of the global batch on its own:
-1/N sum_{i,j} log sigmoid(z_ij (t a_i . b_j + b)), z_ij = 1 for a sample's own pair and -1 otherwise, with a
learnable temperature t = exp(logit_scale) initialised at 10 and a learnable bias b initialised at -10 (the paper's
values; open_clip's `init_logit_scale=log(10)`, `init_logit_bias=-10`). The bias has no weight decay (it is 0-d:
Method.param_groups) and is never clamped; the temperature is clamped at 100 as CLIP's.

What switches, per method: the term between image and text embeddings, and only it. SLIP's SimCLR term is an
image-image instance discrimination, SiLC's DINO term and COSMOS's cross-modal distillation are soft-target
self-distillation towards an EMA teacher: none of them is a pairing of images with their captions, which is what
the sigmoid loss replaces (SigLIP 2 likewise adds SiLC-style self-distillation beside a sigmoid image-text term).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from .distributed import gather_features
from .losses import multi_info_nce

CONTRASTIVE = ("softmax", "sigmoid")
SIGLIP_INIT = {"init_logit_scale": math.log(10.0), "init_logit_bias": -10.0}  # SigLIP paper, open_clip's names


@dataclasses.dataclass(frozen=True)
class ContrastiveConfig:
    contrastive: str = "softmax"
    """The image-text term: "softmax" (symmetric InfoNCE, CLIP and every paper here) or "sigmoid" (SigLIP: each
    pair scored alone, a learnable bias; temperature initialised at 10 and bias at -10). methods/contrastive.py."""

    def __post_init__(self):
        if self.contrastive not in CONTRASTIVE:
            raise ValueError(f"unknown contrastive {self.contrastive!r}; valid choices: {', '.join(CONTRASTIVE)}")


def encoder_options(cfg: ContrastiveConfig) -> dict:
    """open_clip model arguments the term needs: the sigmoid loss's temperature and bias initialisation."""
    return dict(SIGLIP_INIT) if cfg.contrastive == "sigmoid" else {}


def multi_sigmoid(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor,
                  logit_bias: torch.Tensor) -> torch.Tensor:
    """The sigmoid loss averaged over every (view of a, view of b) pair, each over the global batch.

    a: (Va, B, D), b: (Vb, B, D) normalised, sample n of every view of a paired with sample n of every view of b.
    Per view pair: -1/N sum_{i,j} log sigmoid(z_ij (exp(logit_scale) a_i . b_j + logit_bias)) over the N gathered
    samples (open_clip's SigLipLoss on one process). Gathered as multi_info_nce gathers, so under DDP it gives the
    gradient of one process over the global batch as the softmax term does.
    """
    a_all = gather_features(a.transpose(0, 1)).transpose(0, 1)  # (Va, N, D)
    b_all = gather_features(b.transpose(0, 1)).transpose(0, 1)
    logits = logit_scale.exp() * torch.einsum("ind,jmd->ijnm", a_all, b_all) + logit_bias  # (Va, Vb, N, N)
    n = logits.shape[-1]
    signs = 2 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1
    return -F.logsigmoid(signs * logits).sum(dim=(-2, -1)).mean() / n


def image_text_loss(cfg: ContrastiveConfig, a: torch.Tensor, b: torch.Tensor, encoders) -> torch.Tensor:
    """The configured image-text term over views a (Va, B, D) and b (Vb, B, D), normalised, with the encoders'
    learnable temperature (and, for the sigmoid loss, bias)."""
    if cfg.contrastive == "sigmoid":
        return multi_sigmoid(a, b, encoders.logit_scale, encoders.logit_bias)
    return multi_info_nce(a, b, encoders.logit_scale)


def diagnostics(cfg: ContrastiveConfig, encoders) -> dict[str, torch.Tensor]:
    """The term's learnable scalars as logged diagnostics: the temperature, and the bias of the sigmoid loss."""
    out = {"logit_scale": encoders.logit_scale.detach().exp()}
    if cfg.contrastive == "sigmoid":
        out["logit_bias"] = encoders.logit_bias.detach()
    return out
