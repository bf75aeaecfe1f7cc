"""The budget study's analysis: every claim judged at every evaluation logged during training, drawn against
training samples and training FLOPs, and summed up in one sentence per claim.

A manifest with BUDGET_CLAIMS trains its rows with train.eval_every; each evaluation is kept beside the run's
checkpoint (<runs>/checkpoints/<fingerprint>/curve/step<N>/, with its per-item records), so the claim at budget N
uses the same paired interval over seeds and test items as the tables (analysis/statistics.py).

The sentence per claim follows a rule fixed before any result. It describes the curve and decides nothing: each
budget's interval is its own, uncorrected for their number, and the claim's verdict is the claims section's at the
final budget (Holm-adjusted for a secondary claim), printed first and in bold. Over the budgets in increasing order:
- "interval above 0 from B on" / "interval below 0 from B on": so at B and at every larger budget, and on the
  other side of 0 at no budget before B;
- "crosses 0": above 0 at some budgets and below at others (otherwise);
- "interval contains 0 at every budget": then also the largest gap a budget's design would miss with 80% power;
- otherwise "interval excludes 0 at some budgets only": at those budgets, not at the largest.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.layout import curve_points, read_json  # noqa: E402

from .cells import Cells  # noqa: E402
from .load import MAX_METRIC  # noqa: E402
from .statistics import CANNOT_TELL, DOES_NOT_HOLD, HOLDS, NOT_MEASURED, decision, verdict_word  # noqa: E402


def point_cells(cell_runs: pd.DataFrame, runs_dir: Path) -> dict[int, Cells]:
    """step -> Cells of the evaluations every cell logged at that step (cell_runs: row, seed, fingerprint)."""
    ckpts = Path(runs_dir) / "checkpoints"
    by_step: dict[int, tuple[list, dict]] = {}
    for r in cell_runs.itertuples():
        for step, folder in curve_points(ckpts / r.fingerprint).items():
            metrics = read_json(folder / "metrics.json")  # unreadable: warned about, the point left out
            if metrics is None:
                continue
            bad = sorted(k for k, v in metrics.items() if not isinstance(v, (int, float)) or isinstance(v, bool)
                         or not math.isfinite(v) or abs(v) > MAX_METRIC)
            if bad:  # a damaged point never moves a curve: left out, named
                warnings.warn(f"leaving out the curve point {folder}: non-numeric, non-finite or implausible "
                              f"{', '.join(bad[:3])}", stacklevel=2)
                continue
            runs, results = by_step.setdefault(step, ([], {}))
            key = str(folder.relative_to(ckpts))  # Cells reads <ckpts>/<key>/items.npz
            runs.append({"row": r.row, "seed": r.seed, "run_id": key})
            results[key] = metrics
    return {step: Cells(pd.DataFrame(runs), results, ckpts) for step, (runs, results) in sorted(by_step.items())}


def claim_frame(points: dict[int, Cells], claims: list[tuple], batch_size: int,
                flops_per_sample: dict[str, float]) -> pd.DataFrame:
    """One row per (claim, budget): the paired gap, its interval, the verdict, samples and training FLOPs (of
    the costlier of the two rows: what the claim's winner or loser spent to get there)."""
    records = []
    for text, better, worse, metric in claims:
        for step, cells in points.items():
            iv = cells.paired(better, worse, metric)
            if iv.seeds == 0:
                continue
            samples = step * batch_size
            flops = max(flops_per_sample.get(better, float("nan")), flops_per_sample.get(worse, float("nan")))
            records.append({"claim": text, "step": step, "samples": samples, "pflops": samples * flops / 1e15,
                            "gap": iv.mean, "lo": iv.lo, "hi": iv.hi, "seeds": iv.seeds,
                            "detectable": iv.detectable, "verdict": decision(iv)})
    return pd.DataFrame(records, columns=["claim", "step", "samples", "pflops", "gap", "lo", "hi", "seeds",
                                          "detectable", "verdict"])


def sentence(verdicts: list[tuple[int, str]], detectable: list[float] | None = None) -> str:
    """The module docstring's rule over (samples, verdict) pairs in increasing budget order; `detectable`: the
    smallest gap each budget's design detects with 80% power (a curve that never separates says how large a gap
    it could have missed)."""
    if detectable is not None:
        worst = max((d for (_, v), d in zip(verdicts, detectable) if v != NOT_MEASURED and d == d), default=None)
    verdicts = [(b, v) for b, v in verdicts if v != NOT_MEASURED]
    if not verdicts:
        return "not measured yet"
    words = [v for _, v in verdicts]
    side = {HOLDS: "above 0", DOES_NOT_HOLD: "below 0"}
    at = ", ".join(f"{side[v]} at {b:,}" for b, v in verdicts if v in side)
    for word in (HOLDS, DOES_NOT_HOLD):
        if words[-1] == word:
            start = len(words) - 1
            while start > 0 and words[start - 1] == word:
                start -= 1
            opposite = DOES_NOT_HOLD if word == HOLDS else HOLDS
            if opposite not in words[:start]:
                return f"interval {side[word]} from {verdicts[start][0]:,} samples on"
    if HOLDS in words and DOES_NOT_HOLD in words:
        return f"crosses 0 ({at} samples)"
    if set(words) == {CANNOT_TELL}:
        if detectable is not None and worst is not None:
            return (f"interval contains 0 at every budget up to {verdicts[-1][0]:,} samples (a gap larger than "
                    f"{worst:.1f} would have shown with 80% power; smaller ones cannot be told)")
        return f"interval contains 0 at every budget (up to {verdicts[-1][0]:,} samples)"
    return f"interval excludes 0 at some budgets only ({at} samples; contains 0 at {verdicts[-1][0]:,})"


def plot_gaps(frame: pd.DataFrame, x: str, label: str, path: Path) -> Path:
    """One panel per claim: the gap with its 95% interval against `x`, the zero line, log x axis."""
    claims = list(dict.fromkeys(frame["claim"]))
    cols = 3
    rows = max(1, -(-len(claims) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, claim in zip(axes.flat, claims):
        d = frame[frame["claim"] == claim].sort_values(x)
        ax.fill_between(d[x], d["lo"], d["hi"], alpha=0.25)
        ax.plot(d[x], d["gap"], marker="o", ms=3)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(claim, fontsize=7.5)
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("gap (points)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(claims):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def metric_frame(points: dict[int, Cells], metrics: dict[str, str], batch_size: int,
                 flops_per_sample: dict[str, float]) -> pd.DataFrame:
    """One row per (row, seed, budget, metric): the value, with the row's samples and training PFLOP."""
    records = []
    for step, cells in points.items():
        for r in cells.runs.itertuples():
            for key, label in metrics.items():
                value = cells.results.get(r.run_id, {}).get(key)
                if value is not None:
                    samples = step * batch_size
                    records.append({"row": r.row, "seed": r.seed, "samples": samples, "metric": label,
                                    "pflops": samples * flops_per_sample.get(r.row, float("nan")) / 1e15,
                                    "value": value})
    return pd.DataFrame(records, columns=["row", "seed", "samples", "metric", "pflops", "value"])


def plot_metrics(frame: pd.DataFrame, x: str, label: str, path: Path) -> Path:
    """One panel per metric: each row's seed-mean against `x` (min-max over seeds shaded), log x axis; against
    FLOPs, rows at equal x spent equal compute."""
    metrics = list(dict.fromkeys(frame["metric"]))
    cols = 3
    rows = max(1, -(-len(metrics) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        d = frame[frame["metric"] == metric]
        for row, g in d.groupby("row", sort=False):
            agg = g.groupby(x)["value"].agg(["mean", "min", "max"]).reset_index()
            line, = ax.plot(agg[x], agg["mean"], marker="o", ms=2.5, label=row)
            ax.fill_between(agg[x], agg["min"], agg["max"], alpha=0.15, color=line.get_color())
        ax.set_xscale("log")
        ax.set_title(metric, fontsize=8)
        ax.set_xlabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def flops_by_row(cell_runs: pd.DataFrame) -> dict[str, float]:
    """Training FLOPs per sample of each row, as its runs recorded them (info.json flops_per_sample)."""
    if "flops_per_sample" not in cell_runs:
        return {}
    per_row = cell_runs.dropna(subset=["flops_per_sample"]).groupby("row", sort=False)["flops_per_sample"].first()
    return {row: float(v) for row, v in per_row.items()}


def markdown(frame: pd.DataFrame, claims: list[tuple], flops: dict[str, float], final: dict | None = None) -> str:
    """The report section: the sentence per claim, then the verdict at each budget. `final` (claim text -> the
    claims section's verdict) gives each claim's verdict at the final budget, Holm-adjusted for a secondary claim;
    a claim it lacks reads its last budget's own interval."""
    final = final or {}
    lines = ["## Where each claim appears (budget study)", "",
             "Each claim's verdict is the claims section's, at the final budget (a primary claim on its interval, "
             "a secondary one on its Holm-adjusted p), in bold. After it, the curve over the budgets, described "
             "by a rule in analysis/budget.py fixed before any result: each budget is an evaluation during "
             "training with its own paired interval over seeds and test items, not corrected for their number, "
             "so a curve's words decide nothing: *interval above / below 0 from B on*, *crosses 0*, *interval "
             "contains 0 at every budget* (with the largest gap a budget's design would miss with 80% power), or "
             "*interval excludes 0 at some budgets only*. A budget is an evaluation during one training run "
             "(train.eval_every), not a separate run of that length: before the end the learning rate is still "
             "higher than a run of that length would end with.", ""]
    for text, *_ in claims:
        d = frame[frame["claim"] == text].sort_values("samples")
        if not len(d):
            lines.append(f"- {text}: not measured yet")
            continue
        last = verdict_word(final[text]) if text in final else d["verdict"].iloc[-1]
        curve = sentence(list(zip(d["samples"], d["verdict"])), list(d["detectable"]))
        lines.append(f"- {text}: **{last}** ({int(d['seeds'].min())} seed(s)); the curve: {curve}")
    lines += ["", "Training compute per sample (forward + backward, torch's FLOP counter, fp32, as each run "
              "recorded it):", "",
              "| Row | GFLOP per sample |", "|---|---|"]
    lines += [f"| {row} | {f / 1e9:.2f} |" for row, f in flops.items()]
    if len(frame):
        wide = frame.assign(cell=[f"{g:+.1f} [{lo:+.1f}, {hi:+.1f}] {_short(v)}" for g, lo, hi, v in
                                  zip(frame["gap"], frame["lo"], frame["hi"], frame["verdict"])])
        table = wide.pivot(index="claim", columns="samples", values="cell").reindex(
            [c[0] for c in claims if c[0] in set(frame["claim"])])
        lines += ["", "Gap and 95% interval at each budget (training samples; + interval above 0, - below 0, "
                  "? contains 0; each uncorrected):", "",
                  "| Claim | " + " | ".join(f"{s:,}" for s in table.columns) + " |",
                  "|---" * (len(table.columns) + 1) + "|"]
        lines += [f"| {claim} | " + " | ".join("" if pd.isna(v) else v for v in r) + " |"
                  for claim, r in table.iterrows()]
    return "\n".join(lines) + "\n"


def _short(word: str) -> str:
    return {HOLDS: "+", DOES_NOT_HOLD: "-"}.get(word, "?")


def write(name: str, claims: list[tuple], cell_runs: pd.DataFrame, batch: int, runs_dir: Path,
          out_dir: Path, metrics: dict[str, str] | None = None, final: dict | None = None) -> tuple[str, list[Path]]:
    """The budget section of reports/<name>.md and its figures (each claim's gap vs samples and vs FLOPs; each
    row's `metrics` vs samples and vs FLOPs); `batch`: the runs' global batch (samples per step); `final`: the
    claims section's verdict per claim (markdown)."""
    points = point_cells(cell_runs, runs_dir)
    flops = flops_by_row(cell_runs)
    frame = claim_frame(points, claims, batch, flops)
    figs = []
    values = metric_frame(points, metrics or {}, batch, flops)
    if len(values):
        (Path(out_dir) / "figures").mkdir(parents=True, exist_ok=True)
        figs.append(plot_metrics(values, "samples", "training samples",
                                 Path(out_dir) / "figures" / f"{name}-metrics-vs-samples.png"))
        figs.append(plot_metrics(values, "pflops", "training PFLOP",
                                 Path(out_dir) / "figures" / f"{name}-metrics-vs-flops.png"))
    if len(frame):
        (Path(out_dir) / "figures").mkdir(parents=True, exist_ok=True)
        figs.append(plot_gaps(frame, "samples", "training samples",
                              Path(out_dir) / "figures" / f"{name}-gap-vs-samples.png"))
        figs.append(plot_gaps(frame, "pflops", "training PFLOP (costlier row)",
                              Path(out_dir) / "figures" / f"{name}-gap-vs-flops.png"))
        frame.to_csv(Path(out_dir) / "tables" / f"{name}-claims.csv", index=False)
    return markdown(frame, claims, flops, final), figs
