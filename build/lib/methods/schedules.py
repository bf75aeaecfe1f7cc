"""Learning-rate and momentum schedules as plain functions of the step (DINO / nanoGPT style)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, base: float, warmup: int, final: float = 0.0, start: float = 0.0) -> float:
    """Linear warmup from `start` to `base` over `warmup` steps, then cosine decay to `final` at `total`."""
    if step < warmup:
        return start + (base - start) * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + 0.5 * (base - final) * (1.0 + math.cos(math.pi * progress))
