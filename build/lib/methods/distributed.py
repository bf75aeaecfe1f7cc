"""Process-group helpers: rank/world queries that work without torch.distributed, and feature gathering."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def gather_features(x: torch.Tensor, with_grad: bool = False) -> torch.Tensor:
    """Concatenate x (B, ...) from every rank in rank order -> (world*B, ...).

    Default (open_clip's ClipLoss semantics, gather_with_grad=False): only this rank's slice carries gradient;
    each rank's loss over the global batch then gives the exact gradient for its own features.
    with_grad=True (SLIP's SimCLR gather) backpropagates through every slice via torch.distributed.nn.
    """
    if not is_distributed():
        return x
    if with_grad:
        import torch.distributed.nn as dist_nn

        return torch.cat(dist_nn.all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    parts[dist.get_rank()] = x
    return torch.cat(parts, dim=0)
