"""The evaluator plug-in contract (big_vision's evaluators, one file per task) and the per-item rules it shares.

An evaluator module (retrieval.py, classification.py, ...) defines one `EVALUATOR`:
    task       the metric keys' first part: "<task>/<dataset>/<metric>"
    readers    dataset name -> read(cfg, scenes) -> the task's data (the synthetic benchmark's reader comes from
               methods/data/scenes/scenesets.py; real datasets read local paths from cfg.paths)
    paths      dataset name -> the eval.paths keys it reads (checked before any training)
    run        run(method, data, cfg, items) -> {metric: value}; fills `items` with per-test-item arrays
    unit       unit(metric) -> the items field whose first axis is the test items a metric averages over
    resample   resample(metric, items, weights) -> (R,) the metric recomputed under R weightings of the test items
               (weights (R, n) counts; ones = the test set once, multinomial counts = a bootstrap replicate), or
               None for a metric the items do not determine. analysis/statistics.py resamples through it, so a
               metric is defined once, here, beside the code that computes it.
Adding a task = a new module with its EVALUATOR + one line in methods/evals/__init__.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from ..errors import DataError


@dataclasses.dataclass(frozen=True)
class Evaluator:
    task: str
    readers: dict[str, Callable]
    run: Callable
    unit: Callable[[str], str]
    resample: Callable[[str, dict, np.ndarray], np.ndarray | None]
    paths: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def sets(self) -> tuple[str, ...]:
        return tuple(f"{self.task}/{d}" for d in self.readers)


def percent(weights: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """(R,) weighted percent of true `hits` (n,) under each row of weights (R, n)."""
    return 100.0 * (weights @ hits) / np.maximum(weights.sum(axis=1), 1e-12)


def group_mean(weights: np.ndarray, hits: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(R,) the mean over groups of each group's weighted percent (a group absent from a replicate is skipped)."""
    rows = []
    for g in np.unique(groups):
        sel = groups == g
        size = weights[:, sel].sum(axis=1)
        rows.append(np.where(size > 0, 100.0 * (weights[:, sel] @ hits[sel]) / np.maximum(size, 1e-12), np.nan))
    return np.nanmean(np.stack(rows), axis=0)


def per_group_resample(metric: str, items: dict, weights: np.ndarray) -> np.ndarray | None:
    """Accuracy per group ("correct", "group" items) and their mean: the probes' rule (compositional, perception)."""
    correct, groups = items["correct"], items["group"]
    if metric == "mean":
        return group_mean(weights, correct, groups)
    sel = groups == metric
    if not sel.any():
        return None
    return percent(weights[:, sel], correct[sel])


def require_images(ok: torch.Tensor, what: str) -> list[int]:
    """The indices of the readable items; none at all is one line (DataError: the run stops FAILED, the command
    prints it), not an empty batch or a NaN score."""
    keep = ok.nonzero().squeeze(1).tolist()
    if not keep:
        raise DataError(f"{what}: 0 of {len(ok)} items have their images (every image missing or "
                                f"unreadable); check the images folder against the documented layout (docs/data.md)")
    return keep
