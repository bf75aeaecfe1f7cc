"""Manifest + runs DataFrame -> LaTeX table (booktabs): mean +- std over seeds, best in bold, '-' if missing."""

from __future__ import annotations

import math

import pandas as pd


def cell_stats(df: pd.DataFrame, fingerprints: dict[str, list[str]], columns: list[str]) -> pd.DataFrame:
    """Per row label and metric: mean, std and n over the runs whose fingerprints the row's cells have."""
    records = []
    for label, fps in fingerprints.items():
        sub = df[df["fingerprint"].isin(fps)] if len(df) else df
        for col in columns:
            vals = sub[col].dropna() if col in sub else pd.Series(dtype=float)
            records.append({"row": label, "metric": col, "mean": vals.mean() if len(vals) else math.nan,
                            "std": vals.std(ddof=0) if len(vals) else math.nan, "n": len(vals)})
    return pd.DataFrame(records)


def _fmt(mean: float, std: float, n: int, bold: bool) -> str:
    if n == 0 or math.isnan(mean):
        return "-"
    s = f"{mean:.1f}" + (f" $\\pm$ {std:.1f}" if n > 1 else "")
    return f"\\textbf{{{s}}}" if bold else s


def latex_table(stats: pd.DataFrame, columns: dict[str, str], caption: str, label: str) -> str:
    """A booktabs table (pandas Styler.to_latex); the best mean of each column is bold (higher is better)."""
    rows = list(dict.fromkeys(stats["row"]))
    best = stats.groupby("metric")["mean"].max()
    table = {}
    for key, header in columns.items():
        col = []
        for r in rows:
            s = stats[(stats["row"] == r) & (stats["metric"] == key)].iloc[0]
            is_best = s["n"] > 0 and len(rows) > 1 and s["mean"] == best[key]
            col.append(_fmt(s["mean"], s["std"], int(s["n"]), is_best))
        table[header] = col
    frame = pd.DataFrame(table, index=pd.Index(rows, name="Method"))
    return frame.style.to_latex(hrules=True, caption=caption, label=label, position="t", position_float="centering",
                                column_format="l" + "r" * len(columns))
