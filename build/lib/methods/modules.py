"""Parts shared by composition between methods: EMA teacher, projection MLP, DINO head, cross-attention pooling."""

from __future__ import annotations

import copy
import math

import torch
import torch.distributed as dist
from torch import nn

from . import distributed

EMA_SCHEDULES = ("fixed", "cosine")


# The official COSMOS CC3M recipe: momentum 0.999 (an averaging horizon of 1 / (1 - 0.999) = 1,000 steps) over
# 88,576 steps, i.e. the teacher averages the last 1.13% of the run.
OFFICIAL_EMA_HORIZON = 1 / (1 - 0.999) / 88_576


def horizon_momentum(horizon: float, total_steps: int) -> float:
    """The fixed momentum whose averaging horizon 1 / (1 - m) is `horizon` (a fraction) of a run of
    `total_steps` steps: the official 0.999 at the official length, the same share of any shorter run (a horizon
    under one step gives 0: the teacher is the student)."""
    return max(0.0, 1.0 - 1.0 / (horizon * total_steps))


def ema_momentum(base: float, schedule: str, step: int, total_steps: int) -> float:
    """The teacher momentum at `step`: fixed (SiLC / COSMOS: the teacher must keep absorbing image-text learning)
    or DINO's cosine from `base` to 1 over training."""
    if schedule == "fixed":
        return base
    if schedule == "cosine":
        return 1 - (1 - base) * (math.cos(math.pi * step / max(total_steps, 1)) + 1) / 2
    raise ValueError(f"unknown EMA schedule {schedule!r}; valid choices: {', '.join(EMA_SCHEDULES)}")


class LogitScale(nn.Module):
    """A learnable log-temperature as a module (so an EMA teacher of a module dict holds it too, as the official
    COSMOS teacher holds its copy of distill_logit_scale). Initialised to ln(1 / 0.07) as CLIP's."""

    def __init__(self, init: float = math.log(1 / 0.07)):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(float(init)))


class EMATeacher(nn.Module):
    """A gradient-free copy of `student` tracking it by t <- m t + (1 - m) s over all parameters (buffers are
    copied). It is a submodule of the method, so checkpoints hold it and resume is exact; its parameters have
    requires_grad=False, so the optimiser, DDP and weight decay never see them."""

    def __init__(self, student: nn.Module):
        super().__init__()
        self.module = copy.deepcopy(student)
        self.module.requires_grad_(False)
        self.module.eval()  # teacher BN / dropout in inference mode

    def train(self, mode: bool = True):
        return super().train(False)

    @torch.no_grad()
    def update(self, student: nn.Module, momentum: float) -> None:
        t_params, s_params = list(self.module.parameters()), [p.detach() for p in student.parameters()]
        torch._foreach_lerp_(t_params, s_params, 1.0 - momentum)
        for t, s in zip(self.module.buffers(), student.buffers()):
            t.copy_(s)


def views_first(*xs: torch.Tensor, item_dims: int = 3) -> torch.Tensor:
    """Stack view batches of one shape, each (B, *item) or (B, n, *item), into (V, B, *item) for one encoder pass
    (item_dims: 3 for images (C, H, W), 1 for token ids (L,))."""
    return torch.cat([x[:, None] if x.dim() == item_dims + 1 else x for x in xs], dim=1).transpose(0, 1)


def encode_views(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run an encoder `fn` (returning (pooled, tokens)) on (V, B, ...) views in ONE pass; outputs (V, B, ...)."""
    v, b = x.shape[:2]
    pooled, tokens = fn(x.flatten(0, 1))
    return pooled.unflatten(0, (v, b)), tokens.unflatten(0, (v, b))


class ProjectionMLP(nn.Sequential):
    """SLIP's SimCLR head: Linear-BN-ReLU x (layers - 1), then Linear (BN becomes SyncBN under DDP: the loop
    converts every BatchNorm of a method when it runs on several ranks)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, layers: int = 3):
        mods, d = [], in_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            d = hidden
        super().__init__(*mods, nn.Linear(d, out_dim))


class DINOHead(nn.Module):
    """DINO's head (Caron et al. 2021): MLP in->hidden->hidden->bottleneck (GELU), L2-normalise, then a
    weight-normalised Linear(bottleneck -> K) whose gain is frozen at 1. Holds the teacher centre as a buffer."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 2048, bottleneck: int = 256, layers: int = 3):
        super().__init__()
        mods, d = [], in_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(d, hidden), nn.GELU()]
            d = hidden
        self.mlp = nn.Sequential(*mods, nn.Linear(d, bottleneck))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))
        self.last.parametrizations.weight.original0.data.fill_(1.0)
        self.last.parametrizations.weight.original0.requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(nn.functional.normalize(self.mlp(x), dim=-1))

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor, momentum: float) -> None:
        """centre <- m centre + (1 - m) mean of the teacher outputs over the global batch."""
        total = teacher_out.sum(dim=0, keepdim=True)
        count = torch.tensor(float(len(teacher_out)), device=total.device)
        if distributed.is_distributed():
            dist.all_reduce(total)
            dist.all_reduce(count)
        self.center.mul_(momentum).add_(total / count, alpha=1 - momentum)


class CrossAttentionPool(nn.Module):
    """COSMOS cross-modal pooling: one multi-head attention layer, LayerNorm on the query and on the key/value
    tokens, no MLP, no dropout; the output is added residually to the un-normalised query.

    query (B, V, D): V pooled view embeddings per sample; tokens (B, L, D); pad_mask (B, L) True where a key
    is padding (None = attend to every token, as the official code does)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q, self.norm_kv = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor, pad_mask: torch.Tensor | None = None):
        kv = self.norm_kv(tokens)
        out, _ = self.attn(self.norm_q(query), kv, kv, key_padding_mask=pad_mask, need_weights=False)
        return query + out

    def weights(self, query: torch.Tensor, tokens: torch.Tensor, pad_mask: torch.Tensor | None = None):
        """(B, V, L) attention weights of each query over the tokens, averaged over heads (for figures)."""
        kv = self.norm_kv(tokens)
        return self.attn(self.norm_q(query), kv, kv, key_padding_mask=pad_mask, need_weights=True,
                         average_attn_weights=True)[1]
