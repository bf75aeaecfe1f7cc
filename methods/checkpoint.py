"""Atomic checkpoints (write to a per-process temporary file, then rename) and safe loading.

`save_atomic` never leaves a truncated file under the checkpoint's name: a crash, a kill or a full disk mid-write
leaves the previous file intact (the partial temporary file is removed when Python can still run). Temporary
names are unique per process and call, so two processes saving to one path (two identical commands, an array
job) never share one. The previous file is kept as `<name>.prev` until the new one is in place, and
`demote_latest` puts it back when the latest checkpoint turns out to hold diverged weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
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


_writing = 0  # checkpoint writes in progress in this process
_deferred: list = []  # what a signal handler asked for during one, run when it has finished


def run_or_defer(action) -> None:
    """A signal handler's action (e.g. raising Terminated on SIGTERM): now, or, if it lands inside a checkpoint
    write, right after the write. Raised inside torch.save, the exception would reach the zip writer's file callback
    and come back as a write error; deferred, the run stops with a complete checkpoint and its own exit status."""
    if _writing:
        _deferred.append(action)
    else:
        action()


@contextlib.contextmanager
def _uninterrupted():
    global _writing
    _writing += 1
    try:
        yield
    finally:
        _writing -= 1
        if not _writing and _deferred:
            action = _deferred[0]
            _deferred.clear()
            action()


def save_atomic(state: dict, path: Path, keep_previous: bool = False) -> None:
    """torch.save to a temporary file, then os.replace onto path; keep_previous: the old file becomes
    path.prev first. A failed write (disk full, unwritable folder) raises CheckpointError naming the path. A
    signal handler's action that lands mid-write (run_or_defer) runs once the write has finished."""
    path = Path(path)

    def keep() -> None:
        if keep_previous and path.exists():
            os.replace(path, previous(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _uninterrupted(), atomic_write(path, keep) as tmp, open(tmp, "wb") as f:  # closed on failure
            torch.save(state, f)
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
    except Exception as exn:  # noqa: BLE001 - garbage can fail the unpickler anywhere (KeyError, IndexError, ...)
        first = str(exn).strip().splitlines()[0] if str(exn).strip() else type(exn).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first[:200]})") from None


@dataclasses.dataclass
class TrainState:
    """What the loop carries from step to step besides the weights and the optimiser: the step, each reader's
    stream position (per slot, all ranks' after a gather) and this rank's skip counts since the run began."""

    step: int = 0
    positions: dict[int, int] = dataclasses.field(default_factory=dict)
    skipped: int = 0
    tar_errors: int = 0

    def advance(self, meta) -> None:
        """Account for one batch from the stream (methods.data.stream.BatchMeta)."""
        self.positions[meta.slot] = meta.pos
        self.skipped += meta.skipped
        self.tar_errors += meta.tar_errors


class RunCheckpoint:
    """A training run's checkpoint, `<ckpt_dir>/last.pt`: resume from it, save to it (atomically, the previous one
    kept as last.pt.prev), and demote it when its weights turn out to have diverged. `readers` = ranks x data
    workers: stream positions are per reader, so a resume with another layout restarts the data order."""

    def __init__(self, ckpt_dir: Path, rank: int, world: int, readers: int):
        self.path, self.rank, self.world, self.readers = Path(ckpt_dir) / "last.pt", rank, world, readers

    def resume(self, method, opt, scaler, logger) -> TrainState:
        """Load the checkpoint (if any) into method, optimiser, scaler and torch's RNG; the state to go on from."""
        if not self.path.exists() and previous(self.path).exists():  # killed between save_atomic's two renames
            os.replace(previous(self.path), self.path)
        if not self.path.exists():
            return TrainState()
        saved = load(self.path)
        try:
            method.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exn:
            raise CheckpointError(f"{self.path} does not fit this run ({str(exn).strip().splitlines()[0][:200]}); "
                                  "move it away to start over") from None
        scaler.load_state_dict(saved["scaler"])

        def mine(counts) -> int:  # this rank's count, if the checkpoint was written by as many ranks
            return counts[self.rank] if len(counts) == self.world else 0

        state = TrainState(saved["step"], saved["positions"], mine(saved["skipped"]),
                           mine(saved.get("tar_errors", ())))
        torch.set_rng_state(saved["rng"])
        logger.info("resumed_from_step", state.step)
        if saved.get("readers") != self.readers:
            state.positions = {}  # positions are per (rank, worker) reader: another layout cannot map them exactly
            logger.info("resume_data_order", "restarted: the number of ranks x workers changed")
        return state

    def save(self, method, opt, scaler, state: TrainState, ranks: list[tuple], done: bool) -> None:
        """Write the checkpoint (call on rank 0); `ranks`: every rank's (positions, skipped, tar_errors)."""
        save_atomic({"model": method.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                     "step": state.step, "positions": {k: v for p, _, _ in ranks for k, v in p.items()},
                     "skipped": [n for _, n, _ in ranks], "tar_errors": [e for _, _, e in ranks],
                     "rng": torch.get_rng_state(), "readers": self.readers, "done": done,
                     # what the weights are, so evaluation and export need no config (methods.interop)
                     "method": method.name, "method_config": dataclasses.asdict(method.cfg),
                     "encoder": method.encoders.name, "context_length": method.encoders.context_override,
                     "text_act": method.encoders.text_act, "image_norm": method.encoders.image_norm},
                    self.path, keep_previous=True)

    def kept_step(self) -> str:
        """The step the checkpoint on disk holds ("none" without one): what a failed run leaves behind."""
        return str(load(self.path)["step"]) if self.path.exists() else "none"

    def demote_if_at(self, step: int) -> None:
        """The weights of `step` gave a non-finite loss: if the latest checkpoint holds them, the one before it is
        the last good one (call on rank 0)."""
        if self.path.exists() and load(self.path)["step"] == step:
            demote_latest(self.path)
