"""Run a manifest: resolve its cells, reuse completed runs by fingerprint, train what is missing, tabulate.

A cell is (row, seed). Cells match runs by the fingerprint of their resolved config, so a baseline shared by two
manifests trains once, a changed default makes old runs stale, and an interrupted manifest resumes only the
missing cells (and a half-trained cell resumes from its checkpoint).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import config as C
from . import manifests
from .scales import estimate


@dataclasses.dataclass
class Cell:
    row: str
    seed: int
    config: dict
    fingerprint: str


def cells(manifest, scale: str, seeds: tuple[int, ...] | None = None, rows: list[str] | None = None,
          overrides: dict | None = None) -> list[Cell]:
    """The (row, seed) cells of a manifest at a scale; `overrides` (dotted keys) apply to every cell."""
    if scale not in manifest.SCALES:
        raise C.ConfigError(f"manifest {manifest.__name__.rsplit('.', 1)[-1]!r} does not run at scale {scale!r}; "
                            f"valid choices: {', '.join(manifest.SCALES)}")
    table = manifests.rows(manifest, scale)
    for r in rows or []:
        if r not in table:
            raise C.ConfigError(f"unknown row {r!r}; valid choices: {', '.join(table)}")
    out = []
    for row, updates in table.items():
        if rows and row not in rows:
            continue
        updates = {k: _from_env(row, k, v) for k, v in updates.items()}
        for seed in seeds or manifests.seeds(manifest, scale):
            cfg = C.resolve({**manifests.settings(manifest, scale), **updates, "scale": scale, "seed": seed,
                             **(overrides or {})})
            out.append(Cell(row, seed, cfg, C.fingerprint(cfg)))
    return out


def _from_env(row: str, key: str, value):
    """A manifest value "$NAME" is the environment variable NAME (e.g. a local checkpoint path)."""
    import os

    if not (isinstance(value, str) and value.startswith("$")):
        return value
    if value[1:] not in os.environ:
        raise C.ConfigError(f"row {row!r} needs {key} from the environment variable {value[1:]} "
                            f"(export {value[1:]}=/path/to/file)")
    return os.environ[value[1:]]


def completed_fingerprints(runs_dir: Path) -> set[str]:
    from analysis.load import load_runs

    df = load_runs(runs_dir)
    return set(df["fingerprint"].dropna()) if len(df) else set()


def _train_cell(config: dict, runs_dir: Path, mongo_url: str | None) -> None:
    """A worker process's task: one cell's run (its sacred Run stays in the worker: it does not pickle)."""
    from .experiment import run_training

    run_training(config, runs_dir, mongo_url)


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

    from .experiment import launch_rank, run_training

    if jobs < 1:
        raise C.ConfigError(f"--jobs must be >= 1, got {jobs}")
    t0, trained = time.time(), 0
    manifest = manifests.load(name)
    todo = cells(manifest, scale, seeds, rows, overrides)
    on_done = None
    if archive is not None and launch_rank() == 0:
        from . import archive as A

        restored = A.restore(archive, runs_dir, {c.fingerprint for c in todo})
        if restored:
            print(f"restored {len(restored)} run(s) of this manifest from the archive {archive}")
        if not dry_run and not report_only:
            def on_done(cell: Cell) -> None:
                A.export(runs_dir, [cell.fingerprint], archive)
    done = completed_fingerprints(runs_dir)
    if not dry_run and not report_only:  # every missing cell's paths before the first one trains, not hours in
        for cell in todo:
            if cell.fingerprint not in done:
                C.preflight(cell.config, runs_dir)
    queue: list[Cell] = []
    for i, cell in enumerate(todo, 1):
        state = "done" if cell.fingerprint in done else "missing" if report_only else "to run"
        print(f"[{i}/{len(todo)}] {cell.row} seed={cell.seed} {cell.fingerprint}: {state}")
        if dry_run:
            what = "" if cell.config.get("checkpoint") else (f" steps={cell.config['train']['steps']} "
                                                              f"batch={cell.config['train']['batch_size']}")
            print(f"    method={cell.config['method']} encoder={cell.config['encoder']}{what}: "
                  f"{'reused' if cell.fingerprint in done else estimate(cell.config)}")
            overrides_shown = {k: v for k, v in manifests.rows(manifest, scale)[cell.row].items() if k != "method"}
            if overrides_shown:
                print(f"    row settings: {overrides_shown}")
            continue
        if cell.fingerprint not in done and not report_only:
            if jobs > 1:
                queue.append(cell)
            else:
                run_training(cell.config, runs_dir, mongo_url)
                if on_done is not None:
                    on_done(cell)
            done.add(cell.fingerprint)  # two rows with one config (e.g. a shared default) train once
            trained += 1
    if queue:  # seed-major: every row's first seed before any second seed (a partial run is a whole table)
        _train_cells(sorted(queue, key=lambda c: c.seed), runs_dir, mongo_url, jobs, on_done)
    if on_done is not None:  # cells trained before the archive was asked for are archived too
        A.export(runs_dir, [c.fingerprint for c in todo], archive)
    if dry_run or launch_rank() != 0:  # under torchrun rank 0 records runs and writes outputs
        return None
    path = write_table(name, manifest, todo, runs_dir, out_dir)
    missing = sum(c.fingerprint not in done for c in todo)
    print(f"{name}: {len(todo)} cells, {trained} trained now, {len(todo) - trained - missing} reused"
          + (f", {missing} missing (--report-only)" if missing else "") + f"; {(time.time() - t0) / 60:.1f} min")
    return path


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_table(name: str, manifest, todo: list[Cell], runs_dir: Path, out_dir: Path) -> Path:
    """reports/tables/<name>.tex, reports/<name>.md and reports/figures/<name>-*.png from the logged runs."""
    from analysis import figures, report
    from analysis.cells import Cells
    from analysis.load import load_runs
    from analysis.tables import cell_stats, latex_table

    df = load_runs(runs_dir)
    scale = todo[0].config["scale"] if todo else "tiny"
    columns = manifests.columns(manifest, scale)
    runs = cell_runs(df, todo)
    cells_ = Cells.from_frame(df, runs, runs_dir)
    stats = cell_stats(cells_, list(dict.fromkeys(c.row for c in todo)), list(columns))
    tex = latex_table(stats, columns, f"{manifest.TITLE} ({scale} scale)", f"tab:{name}", manifest.PAPER)
    out_dir = Path(out_dir)
    path = out_dir / "tables" / f"{name}.tex"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tex)
    figs = []
    if len(runs):
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        figs.append(figures.plot_curves(figures.curves(runs_dir, runs), "train/loss",
                                        out_dir / "figures" / f"{name}-curves.png"))
        figs.append(figures.plot_bars(stats, columns, out_dir / "figures" / f"{name}-bars.png"))
        for metric in getattr(manifest, "CURVES", ()):  # evaluations logged during training (train.eval_every)
            figs.append(figures.plot_curves(figures.curves(runs_dir, runs, metric), metric,
                                            out_dir / "figures" / f"{name}-{metric.replace('/', '-')}.png"))
        maps = _maps(runs_dir, runs)
        if maps:
            figs.append(figures.plot_attention(maps, out_dir / "figures" / f"{name}-attention.png"))
    sections = []
    if getattr(manifest, "BUDGET_CLAIMS", None):  # claims judged at every evaluation during training
        from analysis import budget

        batch = todo[0].config["train"]["batch_size"] if todo else 0
        section, budget_figs = budget.write(name, manifest.BUDGET_CLAIMS, runs, batch, runs_dir, out_dir, columns)
        sections.append(section)
        figs += budget_figs
    data = ", ".join(sorted(set(runs["data"].dropna()))) if len(runs) else "no runs yet"
    md = report.render(name, manifest, scale, data, _commit(), runs, stats, columns,
                       [str(f.relative_to(out_dir)) for f in figs], manifests.claims(manifest, scale), cells_,
                       sections, _reference(name, manifest, scale))
    (out_dir / f"{name}.md").write_text(md)
    print(stats.pivot(index="row", columns="metric", values="mean").round(2).to_string())
    print(f"wrote {path}, {out_dir / f'{name}.md'}" + (f" and {len(figs)} figures" if figs else ""))
    return path


def compare(name: str, better: str, worse: str, metric: str, scale: str = "tiny", seeds=None,
            runs_dir: Path = Path("runs"), overrides: dict | None = None) -> str:
    """"better beats worse on metric" for two rows of a manifest, judged from their logged runs as the reports
    judge a paper's claim (paired per seed, 95% interval over seeds and test items); one line."""
    from analysis.cells import Cells
    from analysis.load import load_runs
    from analysis.statistics import verdict

    todo = cells(manifests.load(name), scale, seeds, [better, worse], overrides)  # unknown row: valid choices
    df = load_runs(runs_dir)
    runs = cell_runs(df, todo)
    logged_fps = set(runs["fingerprint"])
    missing = [f"{c.row} seed {c.seed}" for c in todo if c.fingerprint not in logged_fps]
    if missing:
        raise C.ConfigError(f"no run yet for {', '.join(missing)} in {runs_dir}; train them with: "
                            f"python experiments/run.py {name} --rows '{better},{worse}'")
    logged = df[df["run_id"].isin(runs["run_id"])]
    if metric not in logged.columns or logged[metric].isna().all():
        known = sorted(c for c in logged.columns if c.count("/") == 2 and logged[c].notna().any())
        raise C.ConfigError(f"metric {metric!r} not logged by these runs; logged: {', '.join(known)}")
    gap = Cells.from_frame(df, runs, runs_dir).paired(better, worse, metric)
    return f"{better} vs {worse} on {metric}: {verdict(gap)}"


REFERENCE = "budget"  # the tiny tables' reference: the budget study (reports/budget.md)


def _reference(name: str, manifest, scale: str) -> str:
    """A tiny report's line on its reference: which of its claims the budget study judges with 10x the training."""
    if scale != "tiny" or name == REFERENCE or not manifests.claims(manifest, scale):
        return ""
    covers = getattr(manifests.load(REFERENCE), "COVERS", {}).get(name)
    link = f"[{REFERENCE}.md]({REFERENCE}.md)"
    if covers is None:
        return f"The budget study ({link}) does not train this manifest's rows: its claims are judged at the tiny " \
               "budget only."
    if covers == "all":
        return f"Where these claims appear with 10x more training (3 seeds, the same statistics): {link}."
    return f"Where the claims on {covers} appear with 10x more training (3 seeds, the same statistics): {link}; " \
           "the others are judged at the tiny budget only."


def _maps(runs_dir: Path, runs) -> dict:
    """Row label -> the arrays of its first seed's attention_maps.npz (runs that saved maps)."""
    import numpy as np

    out = {}
    for r in runs.itertuples():
        path = Path(runs_dir) / str(r.run_id) / "attention_maps.npz"
        if path.exists() and r.row not in out:
            with np.load(path) as z:
                out[r.row] = {k: z[k] for k in z.files}
    return out


def cell_runs(df, todo: list[Cell]):
    """The latest completed run of every cell: columns row, seed, run_id, data, fingerprint."""
    import pandas as pd

    records = []
    for c in todo:
        hit = df[df["fingerprint"] == c.fingerprint] if len(df) else df
        if len(hit):
            last = hit.iloc[-1]
            records.append({"row": c.row, "seed": c.seed, "run_id": last["run_id"], "data": last["data"],
                            "fingerprint": c.fingerprint, "wall_time_s": last["wall_time_s"],
                            "flops_per_sample": last.get("flops_per_sample")})
    return pd.DataFrame(records, columns=["row", "seed", "run_id", "data", "fingerprint", "wall_time_s",
                                          "flops_per_sample"])
