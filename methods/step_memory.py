"""The memory of one training step, estimated without allocating it: the method is built and run on PyTorch's meta
device (shapes only), and what autograd saves for backward is summed, with the parameters, their gradients and
AdamW's two moments. The preflight compares it with the machine's memory, so a batch or view setting the machine
cannot hold is one line before any work instead of an allocator traceback minutes in.

The count is an upper estimate: on the meta device attention runs as its plain formula, which keeps each head's
N x N weights, where the fused kernels of a real step do not. Measured against a real step's saved tensors
(benchmarks/memory.py, COSMOS ViT-B/16, batch 4, fp32): 3,558 MB estimated against 2,363 MB saved, 1.5x;
OVERCOUNT divides it out before the comparison.
"""

from __future__ import annotations

import torch

OVERCOUNT = 1.5  # the estimate over a real step's saved tensors (module docstring)


def step_bytes(method_name: str, cfg, encoder: str, micro_batch: int, context_length: int = 0,
               text_act: str = "gelu", image_norm: str = "openai", grad_checkpointing: bool = False) -> int:
    """Bytes of one training step of `method_name` (its Config `cfg`) on `encoder` at `micro_batch` samples per
    rank: saved activations (an upper estimate, see OVERCOUNT) + parameters + gradients + AdamW state."""
    from . import METHODS
    from .data.views import random_batch
    from .encoders import build_encoders

    cls = METHODS[method_name]
    with torch.device("meta"):
        encoders = build_encoders(encoder, context_length, text_act, image_norm, device="meta",
                                  **cls.encoder_options(cfg))
        method = cls(cfg, encoders).train()
        if grad_checkpointing:
            encoders.model.set_grad_checkpointing(True)
        batch = random_batch(method.views, micro_batch, encoders.context_length)
    batch = {k: v.to("meta") for k, v in batch.items()}
    kept, seen, saved = [], set(), 0

    def pack(x: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        base = x._base if x._base is not None else x
        if id(base) not in seen:  # a tensor saved by several ops is held once
            seen.add(id(base))
            kept.append(base)
            saved += base.numel() * base.element_size()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        method(batch)
    weights = sum(p.numel() * p.element_size() for p in method.parameters())
    trainable = sum(p.numel() * p.element_size() for p in method.parameters() if p.requires_grad)
    return int(saved + weights + 3 * trainable)
