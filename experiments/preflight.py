"""The filesystem checks of a validated run config, before any work: no benchmark data generated, no run record
made when one fails."""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from pathlib import Path

from methods import METHODS
from methods.data.scenes import data_root, preset, scenes_dir
from methods.data.stream import expand_shards, recaption_share
from methods.encoders.local_config import available_memory
from methods.evals import check_paths
from methods.step_memory import OVERCOUNT, step_bytes

from .errors import ConfigError


@functools.lru_cache(maxsize=8)
def _recaption_share(urls: tuple[str, ...]) -> tuple[int, int]:
    """recaption_share once per shard set (a manifest preflights every cell on the same shards)."""

    return recaption_share(list(urls))


MISSING_SHARDS = "data.dataset=shards needs data.shards=<folder of .tar or brace pattern>"


def preflight(run, runs_dir) -> None:
    """The filesystem checks of a validated config (`run`: its typed RunConfig, experiments/config.py), before
    any work: the training shards exist and can feed the readers, text-crop runs have synthetic captions, every
    evaluation data path exists, runs_dir (its checkpoints/ too) is writable, and so is the benchmark's data folder
    when the benchmark is still to be generated. A failure is a ConfigError naming the path."""

    try:
        if run.data.dataset == "shards" and not run.data.shards and not run.checkpoint:
            raise ValueError(MISSING_SHARDS)
        check_paths(run.eval)
        if run.data.dataset == "shards" and not run.checkpoint:
            urls = expand_shards(run.data.shards)
            readers = max(run.data.workers, 1) * int(os.environ.get("WORLD_SIZE", "1"))
            if len(urls) < readers and not run.data.resampled:
                raise ValueError(f"{len(urls)} shard(s) cannot feed {readers} readers (ranks x data.workers); use "
                                 "fewer data.workers, more shards, or data.resampled=true")
            need = METHODS[run.method].synthetic_captions_needed(run.method_config)
            if need:
                seen, recaptioned = _recaption_share(tuple(urls))
                if seen and not recaptioned:
                    raise ValueError(f"{run.method}.{need} needs synthetic captions, but none of the "
                                     f"first {seen} records of data.shards has any (only raw alt-text); use "
                                     "shards in the DreamLIP/FLAIR or PixelProse layout, or another caption mode")
    except (ValueError, FileNotFoundError) as exn:
        raise ConfigError(str(exn)) from None
    writable_folder(Path(runs_dir) / "checkpoints", "runs dir", shown=runs_dir)
    if run.train.wandb and not run.checkpoint and importlib.util.find_spec("wandb") is None:
        raise ConfigError("train.wandb=offline needs the wandb package: pip install wandb (the suite never logs "
                          "online)")
    if run.train.tensorboard and not run.checkpoint:
        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("train.tensorboard needs the tensorboard package: pip install tensorboard (or "
                              "pip install -e .[tensorboard])")
        writable_folder(Path(run.train.tensorboard), "train.tensorboard folder")
    if not run.checkpoint:
        check_step_memory(run)
    uses_scenes = (run.data.dataset == "scenes" and not run.checkpoint) or any(
        s.endswith("/scenes") for s in run.eval.sets)
    if uses_scenes:
        if not (scenes_dir(preset(run.data.scenes)) / "meta.json").exists():  # to be generated: where?
            writable_folder(data_root(), "benchmark data folder ($SUITE_DATA)")


def machine_memory() -> tuple[int, str]:
    """(bytes, what) of the memory a training step here has: the first GPU's when CUDA is available, else RAM."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, "GPU"
    return available_memory(), "RAM"


def check_step_memory(run, memory: tuple[int, str] | None = None) -> None:
    """A step's estimated memory (methods/step_memory.py, at the per-rank micro-batch) fits the machine's; else
    a ConfigError naming the estimate and what lowers it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    micro = max(run.train.batch_size // world // max(run.train.accum_freq, 1), 1)
    have, kind = memory or machine_memory()
    if not have:
        return
    need = step_bytes(run.method, run.method_config, run.encoder, micro, run.context_length, run.text_act,
                      run.image_norm, run.train.grad_checkpointing) / OVERCOUNT
    if need > have:
        raise ConfigError(f"train.batch_size={run.train.batch_size} ({micro} per rank and micro-batch) with "
                          f"{run.method}'s views on {run.encoder}: one training step needs about "
                          f"{need / 2**30:.1f} GiB (the suite's estimate of its activations, weights and optimizer "
                          f"state), more than this machine's {have / 2**30:.1f} GiB of {kind}; use a smaller batch, "
                          f"train.accum_freq, train.grad_checkpointing=true or fewer / smaller views")


def writable_folder(folder, what: str, shown=None) -> None:
    """`folder` exists as a folder (or is created) and a file can be written in it; else a ConfigError naming it
    (`shown`: the path the user gave, when `folder` is below it)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exn:
        raise ConfigError(f"{what} {str(shown or folder)!r} is not a writable folder "
                          f"({exn.strerror or exn})") from None
