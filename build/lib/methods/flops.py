"""Training FLOPs of a method's step: torch's FLOP counter over forward + backward (matmuls and convolutions;
the optimiser and the EMA teacher update are bandwidth, not FLOPs). One way to count, for the benchmarks and for
the budget study's compute axis."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .data.views import random_batch


def count_flops(method, batch: dict, precision: str = "fp32", device: torch.device | None = None) -> float:
    """FLOPs of one forward + backward of `method` on `batch` (gradients are cleared afterwards)."""
    from .train import autocast_context

    device = device if device is not None else torch.device("cpu")
    with FlopCounterMode(display=False) as counter, autocast_context(precision, device):
        method(batch)["loss"].backward()
    method.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def flops_per_sample(method, batch_size: int) -> float:
    """Training FLOPs per sample of `method` at `batch_size` (fp32 on the CPU, a random batch shaped as its views;
    the loss's batch x batch terms make it depend slightly on the batch)."""
    batch = random_batch(method.views, batch_size, method.encoders.context_length)
    was_training = method.training
    method.train()
    try:
        return count_flops(method, batch) / batch_size
    finally:
        method.train(was_training)
