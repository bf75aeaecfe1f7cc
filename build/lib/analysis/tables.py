"""Manifest + logged cells -> LaTeX table (booktabs): seed-mean +- its 95% interval half-width (seeds and test
items), best mean in bold, '-' if missing."""

from __future__ import annotations

import math

import pandas as pd


def cell_stats(cells, rows: list[str], columns: list[str]) -> pd.DataFrame:
    """Per row label and metric: the seed-mean, its 95% interval (seeds and test items, analysis/statistics.py)
    as lo / hi / half, the number of seeds n, and whether evaluation noise is in the interval."""
    records = []
    for label in rows:
        for col in columns:
            iv = cells.interval(label, col)
            records.append({"row": label, "metric": col, "mean": iv.mean, "lo": iv.lo, "hi": iv.hi,
                            "half": iv.half, "n": iv.seeds, "item_noise": iv.item_noise})
    return pd.DataFrame(records)


def _fmt(mean: float, half: float, n: int, bold: bool) -> str:
    if n == 0 or math.isnan(mean):
        return "-"
    s = f"{mean:.1f}" + (f" $\\pm$ {half:.1f}" if half > 0 else "")
    return f"\\textbf{{{s}}}" if bold else s


def latex_table(stats: pd.DataFrame, columns: dict[str, str], caption: str, label: str,
                paper: dict | None = None) -> str:
    """A booktabs table (pandas Styler.to_latex); the best mean of each column is bold (higher is better).

    paper: row label -> {paper column: (value, tag)}: added as "<column> (paper)" columns, "86.6 [U]"; paper rows
    that we do not train are added below ours with "-" in our columns."""
    paper = paper or {}
    rows = list(dict.fromkeys(stats["row"]))
    best = stats.groupby("metric")["mean"].max()
    table = {}
    for key, header in columns.items():
        col = []
        for r in rows:
            s = stats[(stats["row"] == r) & (stats["metric"] == key)].iloc[0]
            is_best = s["n"] > 0 and len(rows) > 1 and s["mean"] == best[key]
            col.append(_fmt(s["mean"], s["half"], int(s["n"]), is_best))
        table[header] = col
    extra = [r for r in paper if r not in rows]
    for header in dict.fromkeys(h for cols in paper.values() for h in cols):
        table[f"{header} (paper)"] = [f"{paper[r][header][0]:.1f} [{paper[r][header][1]}]"
                                      if header in paper.get(r, {}) else "-" for r in rows + extra]
    for key in list(table)[:len(columns)]:
        table[key] += ["-"] * len(extra)
    frame = pd.DataFrame(table, index=pd.Index(rows + extra))
    frame.columns.name = "Method"  # printed in the header row's first cell
    styler = frame.style.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, caption=caption, label=label, position="t", position_float="centering",
                           column_format="l" + "r" * len(table))
