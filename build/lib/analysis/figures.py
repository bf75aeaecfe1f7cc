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
    ax.set(xlabel="step", ylabel=metric, title=f"{metric} per row")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_bars(stats: pd.DataFrame, columns: dict[str, str], path: Path) -> Path:
    """Grouped bars: one group per column, one bar per row, error bars = the 95% interval (seeds and test items);
    a missing cell leaves a gap."""
    import numpy as np

    df = stats[stats["metric"].isin(columns)]
    rows = list(dict.fromkeys(df["row"]))
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(columns) + 2), 3.2))
    width = 0.8 / max(len(rows), 1)
    for i, (row, colour) in enumerate(zip(rows, sns.color_palette(n_colors=len(rows)))):
        part = df[df["row"] == row].set_index("metric").reindex(list(columns))
        xs = np.arange(len(columns)) - 0.4 + width * (i + 0.5)
        ax.bar(xs, part["mean"], width, label=row, color=colour)
        ax.errorbar(xs, part["mean"], yerr=part["half"].fillna(0).clip(lower=0), fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=2)
    ax.set_xticks(np.arange(len(columns)), list(columns.values()))
    ax.legend(fontsize=7)
    ax.set(xlabel="", ylabel="score (%)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_attention(maps: dict[str, dict], path: Path, sample: int = 0) -> Path:
    """Paper Fig. 3/4-style panels: per row (method) the image, its patch-to-caption similarity overlay and, where
    the method has cross-attention, the caption's attention over patches; the caption is printed below.
    maps: row label -> the arrays of a run's attention_maps.npz."""
    import numpy as np

    kinds = ["patch_text"] + (["xattn_patches"] if any("xattn_patches" in m for m in maps.values()) else [])
    fig, axes = plt.subplots(len(maps), 1 + len(kinds), figsize=(2.2 * (1 + len(kinds)), 2.3 * len(maps)),
                             squeeze=False)
    titles = {"patch_text": "patch-caption similarity", "xattn_patches": "cross-attention (caption -> patches)"}
    for r, (label, m) in enumerate(maps.items()):
        img = m["images"][sample]
        axes[r, 0].imshow(img)
        axes[r, 0].set_ylabel(label)
        for c, kind in enumerate(kinds, 1):
            ax = axes[r, c]
            if kind in m:
                heat = np.kron(m[kind][sample], np.ones((img.shape[0] // m[kind].shape[-1],) * 2))
                ax.imshow(img)
                ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if r == 0:
                ax.set_title(titles[kind], fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    caption = str(next(iter(maps.values()))["captions"][sample])
    fig.text(0.5, 0.005, caption[:160] + ("..." if len(caption) > 160 else ""), ha="center", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path
