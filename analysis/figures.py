"""Figures from logged runs (sacred metrics.json) with seaborn: training curves per row, and per-column bars."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def curves(runs_dir: Path, runs: pd.DataFrame, metric: str = "train/loss") -> pd.DataFrame:
    """Long DataFrame (row, seed, step, value) of one logged curve for the given runs."""
    records = []
    for r in runs.itertuples():
        path = Path(runs_dir) / str(r.run_id) / "metrics.json"
        curve = json.loads(path.read_text()).get(metric) if path.exists() else None
        if curve:
            records += [{"row": r.row, "seed": r.seed, "step": s, "value": v}
                        for s, v in zip(curve["steps"], curve["values"])]
    return pd.DataFrame(records)


def plot_curves(df: pd.DataFrame, metric: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if len(df):
        sns.lineplot(df, x="step", y="value", hue="row", errorbar="sd", ax=ax)
    ax.set(xlabel="step", ylabel=metric, title=f"{metric} per method")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_bars(stats: pd.DataFrame, columns: dict[str, str], path: Path) -> Path:
    """Grouped bars: one group per column, one bar per row, error bars = std over seeds."""
    df = stats[stats["metric"].isin(columns)].assign(column=lambda d: d["metric"].map(columns))
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(columns) + 2), 3.2))
    sns.barplot(df, x="column", y="mean", hue="row", ax=ax)
    ax.set(xlabel="", ylabel="score (%)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path
