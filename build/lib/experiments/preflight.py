"""The filesystem checks of a validated run config, before any work: no benchmark data generated, no run record
made when one fails."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from methods import METHODS
from methods.evals import check_paths

from .errors import ConfigError

@functools.lru_cache(maxsize=8)
def _recaption_share(urls: tuple[str, ...]) -> tuple[int, int]:
    """recaption_share once per shard set (a manifest preflights every cell on the same shards)."""
    from methods.data.stream import recaption_share

    return recaption_share(list(urls))


def preflight(run, runs_dir) -> None:
    """The filesystem checks of a validated config (`run`: its typed RunConfig, experiments/config.py), before
    any work: the training shards exist and can feed the readers, text-crop runs have synthetic captions, every
    evaluation data path exists, and runs_dir (its checkpoints/ too) is writable. A failure is a ConfigError
    naming the path."""
    from methods.data.stream import expand_shards

    try:
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
    folder = Path(runs_dir) / "checkpoints"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exn:
        raise ConfigError(f"runs dir {str(runs_dir)!r} is not writable ({exn.strerror or exn})") from None
