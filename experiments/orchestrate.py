"""Run a manifest: plan its cells (experiments/plan.py), restore archived records (--archive), reuse completed
runs by fingerprint, train what is missing (a half-trained cell resumes from its checkpoint), restore the records
a tiny report's 10x section reads, then hand the runs to analysis/make.py, which writes the table, figures and
report and only reads the runs folder. Nothing here renders."""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.make import reference_cells, write_outputs

from . import archive as A
from . import config as C
from . import manifests
from .experiment import launch_rank, run_training
from .layout import completed_runs
from .plan import Cell, cells
from .preflight import writable_folder
from .scales import estimate


def run_cell(config: C.RunConfig, runs_dir: Path, mongo_url: str | None = None, wait: bool = True) -> str:
    """Train one cell unless another process is training it or has done so: a lock per fingerprint
    (<runs>/locks/<fp>.lock, the filelock library) makes two tables on one runs dir share the work instead of
    training every cell twice. Returns "trained", "done" (completed by another process meanwhile) or, with
    wait=False, "busy" (locked by another process now: come back later)."""
    import os

    from filelock import FileLock, Timeout

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: all ranks train the cell together, unlocked
        run_training(config, runs_dir, mongo_url)
        return "trained"
    fp = C.fingerprint(config)
    folder = Path(runs_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(folder / f"{fp}.lock"), timeout=-1 if wait else 0):
            if fp in completed_runs(runs_dir):
                return "done"
            run_training(config, runs_dir, mongo_url)
            return "trained"
    except Timeout:
        return "busy"


def _train_cell(config: C.RunConfig, runs_dir: Path, mongo_url: str | None) -> None:
    """A worker process's task: one cell's run (its sacred Run stays in the worker: it does not pickle)."""
    run_cell(config, runs_dir, mongo_url)


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_cells(cells_: list[Cell], runs_dir: Path, mongo_url: str | None, jobs: int, on_done=None) -> None:
    """Train cells in `jobs` fresh worker processes at once, each with cores // jobs torch threads (on a small CPU
    several single-threaded runs use the cores better than one run's intra-op threads). A failed cell stops the
    cells not yet started; the ones running finish; its error is raised."""
    import concurrent.futures as cf
    import multiprocessing
    import os

    threads = max(1, (os.cpu_count() or 1) // jobs)
    print(f"training {len(cells_)} cells in {jobs} processes x {threads} thread(s)", flush=True)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_set_threads, initargs=(threads,),
                                max_tasks_per_child=1) as pool:
        futures = {pool.submit(_train_cell, c.config, runs_dir, mongo_url): c for c in cells_}
        try:
            for done in cf.as_completed(futures):
                c = futures[done]
                done.result()
                print(f"done: {c.row} seed={c.seed} {c.fingerprint}", flush=True)
                if on_done is not None:
                    on_done(c)
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def run_manifest(name: str, scale: str = "tiny", seeds=None, rows=None, runs_dir: Path = Path("runs"),
                 mongo_url: str | None = None, dry_run: bool = False, out_dir: Path = Path("reports"),
                 overrides: dict | None = None, jobs: int = 1, report_only: bool = False,
                 archive: Path | None = None) -> Path | None:
    """Train the missing cells of a manifest (`jobs` at a time), then write reports/tables/<name>.tex; returns
    its path. `report_only`: train nothing, write the outputs from the runs already logged (missing cells show as
    missing, their claims as not measured). `archive`: a run archive (experiments/archive.py) whose runs of these
    cells are restored first, and where each cell's run is archived when it completes."""
    import time

    if jobs < 1:
        raise C.ConfigError(f"--jobs must be >= 1, got {jobs}")

    if archive is not None and not Path(archive).exists() and (report_only or Path(archive) == A.DEFAULT):
        raise C.ConfigError(f"--archive: no run archive at {Path(archive).resolve()} (the default, reports/records, "
                            "is read from the working directory: run from the suite's checkout, or name the archive "
                            "with --archive DIR)")
    for folder, what in ((runs_dir, "runs dir"), (out_dir, "output folder"), (archive, "archive")):
        if folder is None:
            continue
        if dry_run and Path(folder).exists() and not Path(folder).is_dir():  # a dry run creates nothing
            raise C.ConfigError(f"{what} {str(folder)!r} is not a writable folder (a file is in its place)")
        if not dry_run:
            writable_folder(folder, what)
    t0, trained = time.time(), 0
    manifest = manifests.load(name)
    todo = cells(manifest, scale, seeds, rows, overrides)
    on_done = None
    if archive is not None and launch_rank() == 0:
        restored = A.restore(archive, runs_dir, {c.fingerprint for c in todo})
        if restored:
            print(f"restored {len(restored)} run(s) of this manifest from the archive {archive}")
        if not dry_run and not report_only:
            def on_done(cell: Cell) -> None:
                A.export(runs_dir, [cell.fingerprint], archive)
    done = set(completed_runs(runs_dir))
    if report_only and not dry_run and todo and not done & {c.fingerprint for c in todo}:
        print(f"warning: none of the {len(todo)} cells of {name} has a completed run in {runs_dir}"
              + (f" or the archive {archive}" if archive is not None else "")
              + ": the report shows every cell as missing", file=sys.stderr)
    if not dry_run and not report_only:  # every missing cell's paths before the first one trains, not hours in
        for cell in todo:
            if cell.fingerprint not in done:
                C.preflight(cell.config, runs_dir)
    queue: list[Cell] = []
    busy: list[Cell] = []  # cells another process is training: waited for after the others
    for i, cell in enumerate(todo, 1):
        state = "done" if cell.fingerprint in done else "missing" if report_only else "to run"
        print(f"[{i}/{len(todo)}] {cell.row} seed={cell.seed} {cell.fingerprint}: {state}")
        if dry_run:
            run = cell.config
            what = "" if run.checkpoint else f" steps={run.train.steps} batch={run.train.batch_size}"
            print(f"    method={run.method} encoder={run.encoder}{what}: "
                  f"{'reused' if cell.fingerprint in done else estimate(cell.config)}")
            overrides_shown = {k: v for k, v in manifests.rows(manifest, scale)[cell.row].items() if k != "method"}
            if overrides_shown:
                print(f"    row settings: {overrides_shown}")
            continue
        if cell.fingerprint not in done and not report_only:
            if jobs > 1:
                queue.append(cell)
            elif run_cell(cell.config, runs_dir, mongo_url, wait=False) == "busy":
                busy.append(cell)
            elif on_done is not None:
                on_done(cell)
            done.add(cell.fingerprint)  # two rows with one config (e.g. a shared default) train once
            trained += 1
    for cell in busy:
        print(f"waiting for another process training {cell.row} seed={cell.seed}", flush=True)
        run_cell(cell.config, runs_dir, mongo_url)
        if on_done is not None:
            on_done(cell)
    if queue:  # seed-major: every row's first seed before any second seed (a partial run is a whole table)
        _train_cells(sorted(queue, key=lambda c: c.seed), runs_dir, mongo_url, jobs, on_done)
    if on_done is not None:  # cells trained before the archive was asked for are archived too
        A.export(runs_dir, [c.fingerprint for c in todo], archive)
    if dry_run or launch_rank() != 0:  # under torchrun rank 0 records runs and writes outputs
        return None

    reference = reference_cells(name, manifest, scale, todo)  # the tiny report's 10x section reads these
    if reference:  # restored (verified) from the committed records: the one step that writes before rendering
        A.restore(A.DEFAULT, runs_dir, {c.fingerprint for c in reference})
    path = write_outputs(name, manifest, todo, runs_dir, out_dir)
    missing = sum(c.fingerprint not in done for c in todo)
    print(f"{name}: {len(todo)} cells, {trained} trained now, {len(todo) - trained - missing} reused"
          + (f", {missing} missing (--report-only)" if missing else "") + f"; {(time.time() - t0) / 60:.1f} min")
    return path
