"""Reports from logged runs: `python -m analysis.make <manifest>` writes reports/tables/<name>.tex,
reports/<name>.md and reports/figures/<name>-*.png from the runs logged so far, training nothing (a missing cell
shows as "-", its claims as not measured). Rendering only reads the runs folder: restoring archived records into
it is the command line's own step before (`run.py <manifest>`: the cells with --archive, and the budget study's
records a tiny report's 10x section reads). `run.py <manifest>` calls the same `write_outputs` after training;
`run.py <manifest> --report-only` and `run.py compare` are thin calls of this module."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from experiments import manifests
from experiments.errors import ConfigError
from experiments.layout import MAPS, STRING_MAPS, load_npz, pid_alive
from experiments.plan import Cell, cells, reconfigured
from methods.evals import chance_levels


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_outputs(name: str, manifest, todo: list[Cell], runs_dir: Path, out_dir: Path) -> Path:
    """reports/tables/<name>.tex, reports/<name>.md and reports/figures/<name>-*.png from the logged runs, written
    into a staging folder inside out_dir and moved into place only when every file is complete: a full disk or a
    kill leaves the previous outputs whole, never half of a new set (a killed call's staging folder is removed by
    the next)."""
    import os
    import shutil

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(f".staging-{name}-*"):  # left by a killed call
        pid = old.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    stage = out_dir / f".staging-{name}-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        path, figs = _write_outputs(name, manifest, todo, runs_dir, stage)
        for f in sorted(p for p in stage.rglob("*") if p.is_file()):
            dest = out_dir / f.relative_to(stage)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    path = out_dir / path.relative_to(stage)
    print(f"wrote {path}, {out_dir / f'{name}.md'}" + (f" and {figs} figures" if figs else ""))
    return path


def _write_outputs(name: str, manifest, todo: list[Cell], runs_dir: Path, out_dir: Path) -> tuple[Path, int]:
    from . import figures, report
    from .cells import Cells
    from .load import load_runs
    from .tables import cell_stats, latex_table

    df = load_runs(runs_dir)
    scale = todo[0].config.scale if todo else "tiny"
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
        for metric in manifest.CURVES:  # evaluations logged during training (train.eval_every)
            figs.append(figures.plot_curves(figures.curves(runs_dir, runs, metric), metric,
                                            out_dir / "figures" / f"{name}-{metric.replace('/', '-')}.png"))
        maps = _maps(runs_dir, runs)
        if maps:
            figs.append(figures.plot_attention(maps, out_dir / "figures" / f"{name}-attention.png"))
    sections = []
    if manifest.BUDGET_CLAIMS:  # claims judged at every evaluation during training
        from . import budget

        batch = todo[0].config.train.batch_size if todo else 0
        judged = report.judge_claims(cells_, manifests.claims(manifest, scale), manifest.PRIMARY) if len(runs) else []
        section, budget_figs = budget.write(name, manifest.BUDGET_CLAIMS, runs, batch, runs_dir, out_dir, columns,
                                            final={text: v for text, _, v in judged})
        sections.append(section)
        figs += budget_figs
    if manifest.DECISION is not None:
        registered = set(manifests.seeds(manifest, scale))  # a rule reads the seeds it was registered on
        ruled = Cells(runs[runs["seed"].isin(registered)] if len(runs) else runs, cells_.results, runs_dir)
        sections.append(decision_section(manifest, cell_stats(ruled, list(dict.fromkeys(c.row for c in todo)),
                                                              list(columns)), ruled,
                                         len({c.seed for c in todo} & registered)))
    data = ", ".join(sorted(set(runs["data"].dropna()))) if len(runs) else "no runs yet"
    md = report.render(name, manifest, scale, data, _commit(), runs, stats, columns,
                       [str(f.relative_to(out_dir)) for f in figs], manifests.claims(manifest, scale), cells_,
                       sections, _reference(name, manifest, scale, todo, runs_dir, columns),
                       df.attrs.get("excluded", []), todo[0].config.benchmark if todo else "", _chance(todo),
                       _caveat_filler(todo, df, runs_dir))
    (out_dir / f"{name}.md").write_text(md)
    print(stats.pivot(index="row", columns="metric", values="mean").round(2).to_string())
    return path, len(figs)


def _caveat_filler(todo: list[Cell], df, runs_dir: Path):
    """Fills a caveat's placeholders from the budget study's runs on the cells' benchmark (analysis/caveats.py)."""
    from . import caveats

    study = cell_runs(df, _study_cells(manifests.load(REFERENCE), todo)) if todo and \
        todo[0].config.scale == "tiny" else None
    if study is None:
        return lambda text: text
    return lambda text: caveats.fill(text, study, df, runs_dir)


def _chance(todo: list[Cell]) -> dict[str, float]:
    """The chance levels of the synthetic benchmark the cells evaluate on ({} for real data)."""
    data = todo[0].config.data if todo else None
    return chance_levels(data.scenes) if data is not None and data.dataset == "scenes" else {}


def decision_section(manifest, stats, cells_, want: int) -> str:
    """The manifest's pre-registered rule (its DECISION) applied to the logged rows, as a report section; it is
    provisional while a row the rule reads lacks some of its seeds (rows outside the rule do not count)."""
    used: set[str] = set()

    def mean(row: str, metric: str) -> float:
        used.add(row)
        sel = stats[(stats["row"] == row) & (stats["metric"] == metric)]
        return float(sel["mean"].iloc[0]) if len(sel) and sel["n"].iloc[0] else float("nan")

    def gap(better: str, worse: str, metric: str):
        used.update((better, worse))
        return cells_.paired(better, worse, metric)

    lines = manifest.DECISION(mean, gap)
    seeds = dict(cells_.runs.groupby("row")["seed"].nunique()) if len(cells_.runs) else {}
    short = [f"{row}: {seeds.get(row, 0)} of {want}" for row in manifest.ROWS if row in used
             and seeds.get(row, 0) < want]  # want: the cells' seeds
    if short:  # a rule registered for all seeds decides nothing on part of them
        lines = [f"**Provisional, not the verdict**: some rows lack seeds ({'; '.join(short)}); the rule decides "
                 "only when every row has all of them"] + lines
    return "## Decision by the pre-registered rule\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"


def compare(name: str, better: str, worse: str, metric: str, scale: str = "tiny", seeds=None,
            runs_dir: Path = Path("runs"), overrides: dict | None = None) -> str:
    """"better beats worse on metric" for two rows of a manifest, judged from their logged runs as the reports
    judge a paper's claim (paired per seed, 95% interval over seeds and test items); one line."""
    from .cells import Cells
    from .load import load_runs
    from .statistics import verdict

    todo = cells(manifests.load(name), scale, seeds, [better, worse], overrides)  # unknown row: valid choices
    df = load_runs(runs_dir)
    runs = cell_runs(df, todo)
    logged_fps = set(runs["fingerprint"])
    missing = [f"{c.row} seed {c.seed}" for c in todo if c.fingerprint not in logged_fps]
    if missing:
        raise ConfigError(f"no run yet for {', '.join(missing)} in {runs_dir}; train them with: "
                            f"python experiments/run.py {name} --rows '{better},{worse}'")
    logged = df[df["run_id"].isin(runs["run_id"])]
    if metric not in logged.columns or logged[metric].isna().all():
        known = sorted(c for c in logged.columns if c.count("/") == 2 and logged[c].notna().any())
        raise ConfigError(f"metric {metric!r} not logged by these runs; logged: {', '.join(known)}")
    gap = Cells.from_frame(df, runs, runs_dir).paired(better, worse, metric)
    return f"{better} vs {worse} on {metric}: {verdict(gap)}"


REFERENCE = "budget"  # the tiny tables' reference: the budget study (reports/budget.md)


def reference_cells(name: str, manifest, scale: str, todo: list[Cell]) -> list[Cell]:
    """The cells a tiny report's reference section reads: its own rows and seeds with 10x the training, as the
    budget study trained them (none for the budget study itself, other scales, or rows that set their own
    length). `run.py <manifest>` restores their archived records (reports/records) before rendering."""
    if scale != "tiny" or name == REFERENCE or not todo:
        return []
    if any("train.steps" in row for row in manifests.rows(manifest, scale).values()):
        return []  # its rows set their own training length: not judged at the tiny budget
    study = manifests.load(REFERENCE)
    own = _budget_cells(todo, study)
    mine = {c.fingerprint for c in own}
    return own + [c for c in _study_cells(study, todo) if c.fingerprint not in mine]


def _study_cells(study, todo: list[Cell]) -> list[Cell]:
    """Every cell of the budget study on the benchmark of `todo`: the family its claims are judged in."""
    return cells(study, "tiny", overrides={"benchmark": todo[0].config.benchmark})


def _concerns(claim_text: str, name: str) -> bool:
    """Whether a budget-study claim ("table1/2: ...") comes from manifest `name`."""
    prefix = claim_text.split(":", 1)[0]
    head, *tails = prefix.split("/")
    return name == head or any(name == head.rstrip("0123456789") + t for t in tails)


def _reference(name: str, manifest, scale: str, todo: list[Cell], runs_dir: Path, columns: dict) -> str:
    """A tiny report's reference: its own rows and claims with 10x the training, read from the budget study's
    runs in runs_dir (`run.py <manifest>` restores them from the committed records first; nothing is trained or
    written here), or where to get them."""
    if not reference_cells(name, manifest, scale, todo):
        return ""
    longer = _budget_cells(todo, manifests.load(REFERENCE))  # its own rows (the family's are read below)
    from .cells import Cells
    from .load import load_runs
    from .report import judge_claims, markdown_table
    from .tables import cell_stats

    df = load_runs(runs_dir)
    runs = cell_runs(df, longer)
    steps = longer[0].config.train.steps
    ratio = steps / todo[0].config.train.steps
    title = f"## The same rows with {ratio:g}x the training ({steps} steps, the budget study's archived runs)"
    if not len(runs):
        return (f"{title}\n\nNo archived run of these rows with {steps} steps on this benchmark yet: "
                f"`python experiments/run.py {REFERENCE} --archive` trains them ([{REFERENCE}.md]({REFERENCE}.md)).")
    cells_ = Cells.from_frame(df, runs, runs_dir)
    rows = list(dict.fromkeys(r for r in runs["row"]))
    stats = cell_stats(cells_, rows, list(columns))
    study = manifests.load(REFERENCE)  # its claims are judged in one family wherever they are printed: the study's
    family = manifests.claims(study, "tiny")
    study_runs = cell_runs(df, _study_cells(study, todo))
    judged = [j for j in judge_claims(Cells.from_frame(df, study_runs, runs_dir), family, study.PRIMARY)
              if _concerns(j[0], name)] if len(study_runs) else []
    seeds = ", ".join(f"{r} {n}" for r, n in runs.groupby("row")["seed"].nunique().items())
    lines = [title, "",
             f"The tiny budget above ({todo[0].config.train.steps} steps) proves the pipeline runs and can see "
             "only large effects. The same rows trained "
             f"{steps} steps in the budget study ([{REFERENCE}.md]({REFERENCE}.md)), restored from the committed "
             f"records and verified (nothing trained for this report; seeds: {seeds}):", "",
             *([markdown_table(stats, columns), ""] if columns else [])]
    if judged:
        lines += [f"Its claims there, as the budget study judges them (one family wherever they are printed: the "
                  f"study's {len(family)} claims, {len(study.PRIMARY)} primary on their own intervals, the others "
                  f"Holm-adjusted across its {len(family) - len(study.PRIMARY)} secondaries; "
                  f"[{REFERENCE}.md]({REFERENCE}.md)):", ""] + \
            [f"- {text}{' (primary)' if p else ''}: **{v}**" for text, p, v in judged]
    return "\n".join(lines)


def _budget_cells(todo: list[Cell], budget) -> list[Cell]:
    """The budget study's versions of a tiny manifest's cells: the same config trained and evaluated as the budget
    study's rows are (its train.steps and train.eval_every), over the cells' seeds and those the study gives its
    primary rows (ROW_SEEDS; a seed the archive lacks is simply not there). Each is its cell's config with those
    keys changed, resolved again by the one resolve step (experiments.plan.reconfigured)."""
    curve = {k: v for k, v in next(iter(budget.ROWS.values())).items() if k in ("train.steps", "train.eval_every")}
    seeds = sorted({c.seed for c in todo} | {s for row_seeds in budget.ROW_SEEDS.values() for s in row_seeds})
    template = {c.row: c for c in todo}
    return [reconfigured(c, seed=seed, **curve) for c in template.values() for seed in seeds]


def _maps(runs_dir: Path, runs) -> dict:
    """Row label -> the arrays of its first seed's attention_maps.npz (runs that saved maps)."""
    out = {}
    for r in runs.itertuples():
        path = Path(runs_dir) / str(r.run_id) / MAPS
        if path.exists() and r.row not in out:
            try:  # figures only: a damaged or pickled file is skipped with a warning, never executed
                out[r.row] = load_npz(path, f"attention maps of run {r.run_id}", STRING_MAPS)
            except ValueError as exn:
                warnings.warn(f"skipping the {exn}", stacklevel=2)
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
                            "flops_per_sample": last.get("flops_per_sample"), "environment": last.get("environment")})
    return pd.DataFrame(records, columns=["row", "seed", "run_id", "data", "fingerprint", "wall_time_s",
                                          "flops_per_sample", "environment"])


def make(name: str, scale: str = "tiny", seeds=None, rows=None, runs_dir: Path = Path("runs"),
         out_dir: Path = Path("reports"), overrides: dict | None = None) -> Path:
    """Write a manifest's outputs from the runs logged in runs_dir; returns the LaTeX table's path."""
    manifest = manifests.load(name)
    return write_outputs(name, manifest, cells(manifest, scale, seeds, rows, overrides), Path(runs_dir),
                         Path(out_dir))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.make", description=make.__doc__)
    p.add_argument("manifest", choices=manifests.names())
    p.add_argument("--scale", default="tiny")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--out", type=Path, default=Path("reports"))
    args = p.parse_args(argv)
    try:
        make(args.manifest, args.scale, runs_dir=args.runs_dir, out_dir=args.out)
    except ConfigError as exn:
        print(f"error: {exn}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
