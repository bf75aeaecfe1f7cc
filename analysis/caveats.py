"""Caveats computed from the records they describe: a manifest's caveat text may hold placeholders that the report
fills from the budget study's runs in the runs folder (the 1,000-step runs the caveats are measured on), so a
caveat never quotes a seed subset or a number that drifts from the tables printed beside it.

    {mean:ROW:METRIC}                  the row's mean of a final metric over its runs (one decimal)
    {range:ROW:METRIC}                 its lowest and highest run ("16.0-19.5")
    {seeds:ROW}                        how many seeds the row has
    {share:ROW:CURVE:LO:HI:FROM}       per seed, the share of a logged curve's points from step FROM on that lie
                                       strictly between LO and HI ("84%, 67%, 28% of steps for seeds 0, 1, 2")

A placeholder whose runs are not in the runs folder reads "n/a (not in this runs folder)".
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .figures import curves

PLACEHOLDER = re.compile(r"\{(mean|range|seeds|share):([^{}]+)\}")
MISSING = "n/a (not in this runs folder)"


def fill(text: str, runs: pd.DataFrame, results: pd.DataFrame, runs_dir: Path) -> str:
    """`text` with its placeholders filled: `runs` (row, seed, run_id) are the study's runs, `results` the loaded
    runs frame (run_id and metric columns)."""

    def value(match: re.Match) -> str:
        kind, args = match[1], match[2].split(":")
        mine = runs[runs["row"] == args[0]] if len(runs) else runs
        if not len(mine):
            return MISSING
        if kind == "seeds":
            return str(mine["seed"].nunique())
        if kind == "share":
            _, curve, lo, hi, start = args
            points = curves(runs_dir, mine, curve)
            if not len(points):
                return MISSING
            points = points[points["step"] >= int(start)]
            share = points.assign(inside=points["value"].between(float(lo), float(hi), inclusive="neither")) \
                .groupby("seed")["inside"].mean()
            return (", ".join(f"{v:.0%}" for v in share) + f" of steps for seed{'s' if len(share) > 1 else ''} "
                    + ", ".join(str(s) for s in share.index))
        metric = ":".join(args[1:])
        values = results.set_index("run_id").reindex(mine["run_id"])[metric] if metric in results else pd.Series()
        values = values.dropna()
        if not len(values):
            return MISSING
        return f"{values.mean():.1f}" if kind == "mean" else f"{values.min():.1f}-{values.max():.1f}"

    return PLACEHOLDER.sub(value, text)
