"""Atomic checkpoints (write to a per-process temporary file, then rename) and safe loading.

`save_atomic` never leaves a truncated file under the checkpoint's name: a crash, a kill or a full disk mid-write
leaves the previous file intact (the partial temporary file is removed when Python can still run). Temporary
names are unique per process and call, so two processes saving to one path (two identical commands, an array
job) never share one. The previous file is kept as `<name>.prev` until the new one is in place, and
`demote_latest` puts it back when the latest checkpoint turns out to hold diverged weights.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import uuid
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError


def temporary_name(path: Path) -> Path:
    """A sibling of path that no other process or call uses (same folder, so os.replace is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_write(path: Path, before_replace=None):
    """Yield a temporary sibling of `path` to write; on success it replaces `path` (after `before_replace()`,
    if given), on any failure it is removed and `path` is untouched. The suite's one way to write a file that a
    reader must never see half-written (checkpoints, run records, benchmark shards)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_atomic(state: dict, path: Path, keep_previous: bool = False) -> None:
    """torch.save to a temporary file, then os.replace onto path; keep_previous: the old file becomes
    path.prev first. A failed write (disk full, unwritable folder) raises CheckpointError naming the path."""
    path = Path(path)

    def keep() -> None:
        if keep_previous and path.exists():
            os.replace(path, previous(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, keep) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as exn:
        reason = getattr(exn, "strerror", None) or str(exn).splitlines()[0]
        raise CheckpointError(f"could not write checkpoint {path}: {reason} (disk full or not writable?); "
                              "the previous checkpoint is untouched") from None


def previous(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".prev")


def demote_latest(path: Path) -> bool:
    """The latest checkpoint holds bad weights: move it to <name>.diverged and restore <name>.prev (if any).
    Returns whether a previous checkpoint was restored."""
    path = Path(path)
    if path.exists():
        os.replace(path, path.with_name(path.name + ".diverged"))
    if previous(path).exists():
        os.replace(previous(path), path)
        return True
    return False


def load(path: Path) -> dict:
    """Load a checkpoint with weights_only=True: tensors and plain containers only, never arbitrary code.
    An unreadable file (truncated, garbage, a pickle that would run code) is a CheckpointError naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exn:
        first = str(exn).strip().splitlines()[0] if str(exn).strip() else type(exn).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first[:200]})") from None
