"""Atomic checkpoints (write to a temporary file, then rename) and safe loading."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(state: dict, path: Path) -> None:
    """torch.save to path.tmp then os.replace: a crash mid-write never leaves a truncated checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(path: Path) -> dict:
    """Load a checkpoint with weights_only=True: tensors and plain containers only, never arbitrary code."""
    return torch.load(path, map_location="cpu", weights_only=True)
