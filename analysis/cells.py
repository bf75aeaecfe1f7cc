"""A manifest's logged cells for the statistics: per (row, seed) the run's result metrics and its items.npz."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from experiments.layout import ITEMS, load_npz

from .statistics import Interval, interval

def load_items(runs_dir: Path, run_id) -> dict | None:
    """A run's per-test-item records (items.npz), or None for runs logged without them."""
    path = Path(runs_dir) / str(run_id) / ITEMS
    if not path.exists():
        return None
    try:
        return load_npz(path, str(path))
    except ValueError as exn:  # truncated, not an npz, a zip bomb, text where numbers belong: no items
        warnings.warn(f"skipping {exn}: this run's interval carries seed noise only", stacklevel=2)
        return None


class Cells:
    """runs: one row per (row, seed) with its run_id (orchestrate's latest completed run of each cell);
    results: run_id -> {metric: value}; items are read from runs_dir when a statistic needs them."""

    def __init__(self, runs: pd.DataFrame, results: dict, runs_dir: Path | None = None):
        self.runs, self.results, self.runs_dir = runs, results, runs_dir
        self._items: dict = {}
        self._paired: dict = {}  # (better, worse, metric) -> Interval: a report judges a claim in several sections

    @classmethod
    def from_frame(cls, df: pd.DataFrame, runs: pd.DataFrame, runs_dir: Path) -> Cells:
        results = {str(r["run_id"]): r.to_dict() for _, r in df.iterrows()} if len(df) else {}
        return cls(runs, results, runs_dir)

    def items(self, run_id) -> dict | None:
        key = str(run_id)
        if key not in self._items:
            self._items[key] = load_items(self.runs_dir, key) if self.runs_dir else None
        return self._items[key]

    def _seeds(self, row: str, metric: str) -> dict[int, str]:
        """seed -> run_id of the row's runs that logged the metric."""
        sub = self.runs[self.runs["row"] == row] if len(self.runs) else self.runs
        out = {}
        for r in sub.itertuples():
            value = self.results.get(str(r.run_id), {}).get(metric)
            if value is not None and not pd.isna(value):
                out[int(r.seed)] = str(r.run_id)
        return out

    def interval(self, row: str, metric: str) -> Interval:
        runs = self._seeds(row, metric)
        ids = [runs[s] for s in sorted(runs)]
        return interval([self.results[i][metric] for i in ids], [self.items(i) for i in ids], metric)

    def paired(self, better: str, worse: str, metric: str) -> Interval:
        """The interval of better - worse over the seeds both rows have (seed s of one against seed s of the
        other: the same data order and initialisation)."""
        key = (better, worse, metric)
        if key not in self._paired:
            a, b = self._seeds(better, metric), self._seeds(worse, metric)
            seeds = sorted(set(a) & set(b))
            self._paired[key] = interval([self.results[a[s]][metric] for s in seeds], [self.items(a[s]) for s in seeds],
                                         metric, minus=[self.results[b[s]][metric] for s in seeds],
                                         minus_items=[self.items(b[s]) for s in seeds])
        return self._paired[key]
