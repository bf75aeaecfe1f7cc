"""One training (or evaluation) run recorded by sacred.

The run's config is the whole resolved config (experiments/config.py), validated before sacred starts. Observers:
a FileStorageObserver (atomic writes: experiments/records.py) under runs/ by default, plus a MongoObserver when
a Mongo URL is given (Omniboard setups).
Curves go through log_scalar, final metrics are the run's result, skipped samples / wall time / fingerprint are
in the run's info, the final evaluation's per-test-item records in its items.npz. Checkpoints live in
<runs_dir>/checkpoints/<fingerprint>/, so re-running the same config
resumes from its last atomic checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from pathlib import Path

from sacred import SETTINGS, Experiment
from sacred.utils import apply_backspaces_and_linefeeds

from methods import build_method
from methods.checkpoint import atomic_write, run_or_defer
from methods.data.scenes import ensure_scenes, preset
from methods.data.stream import expand_shards
from methods.errors import DiskFullError
from methods.evals import evaluate, evaluate_other_weights
from methods.evals.attention import attention_maps
from methods.evals.attention import save_maps as write
from methods.evals.clip_benchmark import result_file, results
from methods.flops import flops_per_sample
from methods.interop import load_init, load_into
from methods.train import train

from . import config as C
from .config import RunConfig
from .errors import Terminated
from .records import AtomicFileStorageObserver, mark_stale

SETTINGS.CAPTURE_MODE = "sys"  # tee via sys.stdout: works in subprocesses, pytest and torchrun alike
SETTINGS.DISCOVER_SOURCES = "sys"


def _quiet_disk_full_in_threads() -> None:
    """A full disk in TensorBoard's writer thread prints no traceback: the run's own write (or the writer's flush
    at close) meets the same error and stops the run with one line (DiskFullError). Other thread errors print."""
    import threading

    if getattr(threading.excepthook, "quiet_disk_full", False):
        return
    default = threading.excepthook

    def hook(args):
        if isinstance(args.exc_value, OSError) and args.exc_value.errno in (errno.ENOSPC, errno.EDQUOT):
            return
        default(args)

    hook.quiet_disk_full = True
    threading.excepthook = hook


class SacredLogger:
    """The loop's Logger protocol on a sacred Run; with `tensorboard` (a folder) every scalar also goes to
    TensorBoard event files there."""

    def __init__(self, run, tensorboard: Path | None = None, wandb_run=None):
        self.run, self.writer, self.wandb = run, None, wandb_run
        if tensorboard is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(tensorboard))
            run.info["tensorboard"] = str(tensorboard)
            _quiet_disk_full_in_threads()

    def scalar(self, name: str, value: float, step: int) -> None:
        self.run.log_scalar(name, value, step)
        if self.writer is not None:
            self.writer.add_scalar(name, value, step)
        if self.wandb is not None:
            self.wandb.log({name: value}, step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()

    def info(self, key: str, value) -> None:
        self.run.info[key] = value


def train_urls(run: RunConfig) -> tuple[list[str], Path | None]:
    """Training shard URLs and, for the synthetic benchmark, its folder (generated on first use)."""
    if run.data.dataset == "scenes":
        root = ensure_scenes(preset(run.data.scenes), generate_here=launch_rank() == 0)
        return sorted(str(p) for p in (root / "train").glob("*.tar")), root

    return expand_shards(run.data.shards), None


# Training FLOPs per sample are counted on a random batch of this size on the CPU before training (one forward +
# backward; the loss's batch x batch terms, negligible next to the towers, are those of this batch).
FLOP_COUNT_BATCH = 4


def _logger():
    """sacred's run logger: its start/result/finish lines only with COSMOS_SUITE_VERBOSE=1 (`run.py -v`); the CLI
    prints its own short summary, and failures stay visible (WARNING and up)."""
    import logging

    class _CurrentStderr(logging.StreamHandler):  # the stderr of the moment (a test's capture, a redirect)
        def emit(self, record):
            self.stream = sys.stderr
            super().emit(record)

    class _NoUserErrorTraceback(logging.Filter):  # a SuiteError's one line is the CLI's: not sacred's traceback
        def filter(self, record):  # nor sacred's "Failed after" (the CLI's error line follows; -v keeps it)
            text = record.getMessage()
            if text.startswith("Failed after") and not os.environ.get("COSMOS_SUITE_VERBOSE"):
                return False
            return not ("Traceback (most recent call last)" in text and "methods.errors." in text)

    log = logging.getLogger("cosmos-suite")
    if not log.handlers:
        handler = _CurrentStderr()
        handler.addFilter(_NoUserErrorTraceback())  # on the handler: the run's child logger's records pass it too
        handler.setFormatter(logging.Formatter("%(levelname)s - %(name)s - %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    # rank 0 records the run; the others run unobserved by design, so sacred's "No observers" warning is no news
    quiet = logging.ERROR if launch_rank() != 0 else logging.WARNING
    log.setLevel(logging.INFO if os.environ.get("COSMOS_SUITE_VERBOSE") else quiet)
    return log


def launch_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun); valid before any process group exists."""
    return int(os.environ.get("RANK", "0"))


def make_experiment(run: RunConfig, runs_dir: Path, mongo_url: str | None = None) -> Experiment:
    """A sacred Experiment recording `run` (as its plain dict); its main rebuilds the typed config from the
    config sacred hands over (what is recorded is what runs), once."""
    ex = Experiment("cosmos-suite", interactive=True)
    ex.captured_out_filter = apply_backspaces_and_linefeeds
    ex.logger = _logger()
    ex.add_config(run.to_dict())
    if launch_rank() == 0:
        ex.observers.append(AtomicFileStorageObserver(str(runs_dir)))
        if mongo_url:
            from sacred.observers import MongoObserver

            ex.observers.append(MongoObserver(url=mongo_url))

    @ex.main
    def main(_config, _run):
        return run_main(C.typed(_config), _run, Path(runs_dir))

    return ex


def run_main(rc: RunConfig, run, runs_dir: Path) -> dict:
    """One run of a resolved config, recorded on `run` (a sacred Run, or anything with its `info` dict, `_id`,
    `log_scalar` and `add_artifact`): build the method, train it (or load the checkpoint of an eval-only run),
    evaluate, save the per-item records and attention maps. Returns the final metrics. A full disk (or quota)
    stops the run with a one-line DiskFullError: the run is marked FAILED, its last complete checkpoint kept."""
    try:
        return _run_main(rc, run, runs_dir)
    except OSError as exn:
        if exn.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {exn.filename}" if exn.filename else ""
        raise DiskFullError(f"no space left on the device{where}: free space (or move --runs-dir) and rerun; the "
                            "run resumes from its last checkpoint") from None


def _run_main(rc: RunConfig, run, runs_dir: Path) -> dict:
    import torch

    fp = C.fingerprint(rc)
    run.info |= {"fingerprint": fp, "pid": os.getpid(), "environment": numeric_environment()}
    if launch_rank() == 0 and run._id is not None:
        stale = mark_stale(runs_dir, fp, run._id)
        if stale:
            run.info["resumes_runs"] = stale
    urls, scenes = run_data(rc, run)
    torch.manual_seed(rc.seed)
    method = build_method(rc.method, rc.method_config, rc.encoder, rc.context_length, rc.text_act, rc.image_norm)
    if rc.init and not rc.checkpoint:
        load_init(method, rc.init)  # a resumed run's checkpoint overrides it in train()
        run.info["init"] = rc.init
    if not rc.checkpoint and launch_rank() == 0:  # the compute axis of budget comparisons (one rank)
        with torch.random.fork_rng(devices=[]):
            run.info["flops_per_sample"] = flops_per_sample(method, FLOP_COUNT_BATCH)
    items: dict = {}  # per-test-item records of the final evaluation (analysis/statistics.py)
    if rc.checkpoint:
        metrics = evaluate_checkpoint(method, rc, scenes, run, items)
    else:
        metrics = train_and_evaluate(method, rc, urls, scenes, run, Path(runs_dir) / "checkpoints" / fp, items)
    if launch_rank() == 0:
        save_items(items, run)
        save_clip_benchmark(metrics, rc, fp, run)
        if scenes is not None and rc.eval.maps:
            save_maps(method, scenes, rc.eval.maps, run)
    return metrics


def run_data(rc: RunConfig, run) -> tuple[list[str], Path | None]:
    """The training shards and the synthetic benchmark's folder (None when neither training nor evaluation
    reads it); an eval-only run has no training data."""
    if rc.checkpoint:  # eval-only: nothing to train on; the benchmark only if an evaluation needs it
        urls, scenes = [], None
        run.info["data"] = f"checkpoint {rc.checkpoint} ({rc.checkpoint_weights})"
    else:
        urls, scenes = train_urls(rc)
        run.info["data"] = scenes.name if scenes else rc.data.shards
    if scenes is None and any(s.endswith("/scenes") for s in rc.eval.sets):
        scenes = ensure_scenes(preset(rc.data.scenes), generate_here=launch_rank() == 0)
    return urls, scenes


def train_and_evaluate(method, rc, urls: list[str], scenes, run, ckpt_dir: Path, items: dict) -> dict:
    """The training loop with the run's evaluations: every train.eval_every steps (each kept beside the checkpoint
    as a curve point, so it survives a resumed run) and at the end."""

    curve = rc.train.eval_every > 0

    def evaluate_at(m, step: int) -> dict:
        items.clear()  # the last evaluation's items are the final model's
        formats: dict[str, str] = {}
        metrics = evaluate(m, rc.eval, scenes, items, formats=formats) | evaluate_other_weights(m, rc.eval, scenes)
        if formats:
            run.info["eval_formats"] = formats
        if curve and launch_rank() == 0:
            save_curve_point(ckpt_dir, step, metrics, items)
        return metrics

    board = Path(rc.train.tensorboard) / f"{rc.method}-{ckpt_dir.name}" \
        if rc.train.tensorboard and launch_rank() == 0 else None  # one subfolder per run (its fingerprint)
    logger = SacredLogger(run, board, wandb_run(rc, ckpt_dir) if launch_rank() == 0 else None)
    try:
        return train(method, urls, rc.train, rc.data, seed=rc.seed, ckpt_dir=ckpt_dir, logger=logger,
                     evaluate=evaluate_at, progress=True)
    finally:
        logger.close()


def wandb_run(rc: RunConfig, ckpt_dir: Path):
    """A Weights & Biases run in offline mode (train.wandb=offline), named by method and fingerprint, its files
    under <runs dir>/wandb (`wandb sync` uploads them); None when off. ckpt_dir: <runs dir>/checkpoints/<fp>."""
    if not rc.train.wandb:
        return None
    import wandb

    folder = Path(ckpt_dir).parents[1] / "wandb"
    folder.mkdir(parents=True, exist_ok=True)
    return wandb.init(mode=rc.train.wandb, dir=str(folder), project="cosmos-suite",
                      name=f"{rc.method}-{ckpt_dir.name}", config=rc.to_dict(), reinit=True)


def numeric_environment() -> dict:
    """What decides a run's last bits besides its config: on CPU, results are bit-identical across processes,
    hash seeds, data-worker resumes and machines only at the same torch version, CPU kernel capability and
    intra-op thread count (measured: 1 vs 2 threads give different weights after 8 steps, for every method) and
    CPU model (sacred records it as run.json's host.cpu; reports print both)."""
    import torch

    env = {"torch": str(torch.__version__), "threads": torch.get_num_threads(),  # a plain string in info.json
           "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name()
    return env


def save_maps(method, scenes: Path, n: int, run) -> None:
    """Attention / similarity maps of n benchmark test images, stored as the run's attention_maps.npz."""
    import tempfile

    method.eval()
    with tempfile.TemporaryDirectory() as tmp:
        run.add_artifact(str(write(attention_maps(method, scenes, n), Path(tmp) / "attention_maps.npz")))


def save_items(items: dict, run) -> None:
    """The final evaluation's per-test-item records as the run's items.npz (compressed numpy arrays), if any."""
    if not items:
        return
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.npz"
        np.savez_compressed(path, **items)
        run.add_artifact(str(path))


def save_clip_benchmark(metrics: dict, rc: RunConfig, fp: str, run) -> None:
    """CLIP_benchmark's result JSON (its layout and metric names) of the run's CLIP_benchmark sets, as the run's
    clip_benchmark_<dataset>_<task>.json files, one record each, as `clip_benchmark build` reads them
    (methods/evals/clip_benchmark.py)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for record in results(metrics, rc.encoder, rc.checkpoint or f"trained:{fp}", rc.eval.path):
            path = Path(tmp) / result_file(record)
            path.write_text(json.dumps(record, indent=1))
            run.add_artifact(str(path))


def save_curve_point(ckpt_dir: Path, step: int, metrics: dict, items: dict) -> None:
    """An evaluation during training (train.eval_every) as <ckpt_dir>/curve/step<N>/{metrics.json, items.npz}:
    what analysis/budget.py reads to judge claims along the way, with the same statistics as the final cell."""
    import json

    import numpy as np

    from .layout import curve_point_dir

    folder = curve_point_dir(ckpt_dir, step)
    folder.mkdir(parents=True, exist_ok=True)
    if items:
        with atomic_write(folder / "items.npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **items)
    with atomic_write(folder / "metrics.json") as tmp:  # last: a point with metrics is complete
        tmp.write_text(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}))


def evaluate_checkpoint(method, rc: RunConfig, scenes, run, items: dict | None = None) -> dict:
    """An eval-only run: load the checkpoint strictly into the weights evaluation uses, evaluate, record."""
    import time

    t0 = time.time()
    load_into(method.eval_encoders(), rc.checkpoint, rc.checkpoint_weights)
    method.eval()
    formats: dict[str, str] = {}
    metrics = evaluate(method, rc.eval, scenes, items, formats=formats)
    if formats:
        run.info["eval_formats"] = formats
    for k, v in metrics.items():
        run.log_scalar(k, v, 0)
    run.info["wall_time_s"] = round(time.time() - t0, 2)
    return metrics


def run_training(rc: RunConfig, runs_dir: Path = Path("runs"), mongo_url: str | None = None):
    """Run one resolved config as a sacred run; returns the sacred Run (its .result holds the metrics)."""
    C.preflight(rc, runs_dir)
    from .scales import absurd_estimate

    if (warning := absurd_estimate(rc)) and launch_rank() == 0:
        print(warning, file=sys.stderr)
    ex = make_experiment(rc, Path(runs_dir), mongo_url)
    # the pid in run.json from the start (info.json waits for the first heartbeat): a run killed before it is
    # still recognised as dead (experiments/records.py)
    with interrupted_by_sigterm():
        return ex.run(options={"--name": f"{rc.method}-{rc.scale}"}, meta_info={"pid": os.getpid()})


@contextlib.contextmanager
def interrupted_by_sigterm():
    """SIGTERM (SLURM's preemption and time limit, `kill`, a container stop) ends the run as Ctrl-C does: sacred
    marks it INTERRUPTED (not left RUNNING) and its last checkpoint resumes it. Main thread only (signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        def terminate():
            raise Terminated(f"stopped by signal {signal.Signals(signum).name}")
        run_or_defer(terminate)  # never inside a checkpoint write: right after it

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
