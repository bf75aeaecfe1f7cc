"""Statistics that can decide: a 95% interval for every table cell and for every claim "A beats B on m".

Two noise sources make a tiny-scale number move: training (another seed, another result) and evaluation (a
finite test set). Both enter every interval:
- training: the spread over seeds of the cell's value (for a claim, of the paired per-seed difference A - B,
  the same seed giving both methods the same data order and initialisation), as a t interval:
  t_{0.975, S-1} * sd / sqrt(S);
- evaluation: a bootstrap over test items (the same resampled items for every seed and both methods, so
  the difference stays paired): 1.96 * the bootstrap standard deviation of the seed-mean.
The half-width is the root of the sum of their squares (slightly conservative: the item-by-seed interaction is
counted in both). With one seed the training part is unknown and a claim cannot be decided.

Verdicts: "holds" (the whole interval above 0), "does not hold" (the whole interval below 0), "cannot tell at
this budget" (the interval holds 0, or one seed). Metrics are recomputed from each run's items.npz (per-test-item
ranks, correctness and groups, per-image confusion matrices; methods/evals), so every metric the evaluators
report can be resampled; a metric without items (e.g. class_cos) carries training noise only.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np

N_BOOT = 1000
Z = 1.959963984540054  # the standard normal's 0.975 quantile


def t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _spec(key: str) -> tuple[str, str, str]:
    task, dataset, metric = key.split("/", 2)
    return task, f"{task}/{dataset}", metric


def _units(key: str, items: dict) -> np.ndarray | None:
    """The per-item array a metric resamples (its first axis = the test items), or None without items."""
    task, spec, metric = _spec(key)
    name = {"retrieval": "i2t_rank" if metric.startswith("i2t") else "t2i_rank", "classification": "rank",
            "segmentation": "conf_csa" if metric.endswith("_csa") else "conf"}.get(task, "correct")
    return items.get(f"{spec}/{name}")


def n_items(key: str, items: dict) -> int | None:
    """How many test items a metric is computed over (the bootstrap's unit), or None without items."""
    arr = _units(key, items)
    return None if arr is None else len(arr)


def metric_batch(key: str, items: dict, weights: np.ndarray) -> np.ndarray | None:
    """The metric `key` recomputed from a run's items under R weightings of its test items: weights (R, n) of
    non-negative counts (ones = the whole test set once; a bootstrap replicate = multinomial counts). Returns (R,)
    values in the evaluators' units (percent), or None when the run has no items for this metric."""
    task, spec, metric = _spec(key)
    arr = _units(key, items)
    if arr is None:
        return None
    w = np.asarray(weights, dtype=float)
    total = w.sum(axis=1)
    if task == "retrieval" and (m := re.fullmatch(r"(i2t|t2i)_r(\d+)", metric)):
        return 100.0 * (w @ (arr < int(m.group(2)))) / total
    if task == "classification" and metric in ("top1", "top5"):
        return 100.0 * (w @ (arr < (1 if metric == "top1" else 5))) / total
    if task == "classification" and metric == "mean_per_class":
        labels = items[f"{spec}/label"]
        return _group_mean(w, arr < 1, labels)
    if task in ("compositional", "perception"):
        groups = items[f"{spec}/group"]
        if metric == "mean":
            return _group_mean(w, arr, groups)
        sel = groups == metric
        return 100.0 * (w[:, sel] @ arr[sel]) / np.maximum(w[:, sel].sum(axis=1), 1e-12)
    if task == "linear" and metric == "top1":
        return 100.0 * (w @ arr) / total
    if task == "segmentation" and metric.split("_csa")[0] in ("miou", "pixel_acc"):
        n = arr.shape[1]
        conf = (w @ arr.reshape(len(arr), -1)).reshape(len(w), n, n + 1)
        tp = np.einsum("rii->ri", conf[:, :, :n])
        union = conf[:, :, :n].sum(axis=1) + conf.sum(axis=2) - tp
        if metric.startswith("pixel_acc"):
            return 100.0 * tp.sum(axis=1) / np.maximum(conf.sum(axis=(1, 2)), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
        return 100.0 * np.nanmean(iou, axis=1)
    return None


def _group_mean(w: np.ndarray, correct: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The mean over groups of each group's weighted percent correct (groups absent from a replicate skipped)."""
    rows = []
    for g in np.unique(groups):
        sel = groups == g
        size = w[:, sel].sum(axis=1)
        rows.append(np.where(size > 0, 100.0 * (w[:, sel] @ correct[sel]) / np.maximum(size, 1e-12), np.nan))
    return np.nanmean(np.stack(rows), axis=0)


@dataclasses.dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float
    seeds: int
    item_noise: bool  # whether the evaluation noise of the test set is in the interval

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2


def interval(values: list[float], item_sets: list[dict | None] | None = None, key: str = "",
             minus: list[float] | None = None, minus_items: list[dict | None] | None = None,
             n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """95% interval of the seed-mean of `values` (per seed), or with `minus` of the paired difference
    values - minus (same seeds, same order). Item noise from the runs' items when every run has them."""
    v = np.asarray(values, dtype=float) - (np.asarray(minus, dtype=float) if minus is not None else 0.0)
    s = len(v)
    if s == 0 or np.isnan(v).any():
        return Interval(math.nan, math.nan, math.nan, s, False)
    mean = float(v.mean())
    seed_part = t_quantile(s - 1) * v.std(ddof=1) / math.sqrt(s) if s > 1 else 0.0
    item_se = _item_se(key, item_sets, minus_items if minus is not None else None, n_boot, seed)
    half = math.hypot(seed_part, Z * (item_se or 0.0))
    return Interval(mean, mean - half, mean + half, s, item_se is not None)


def _item_se(key: str, item_sets, minus_sets, n_boot: int, seed: int) -> float | None:
    """Bootstrap standard deviation of the seed-mean (of the difference) over resampled test items."""
    sets = list(item_sets or []) + list(minus_sets or [])
    if not key or not sets or any(x is None for x in sets):
        return None
    units = [_units(key, x) for x in sets]
    if any(u is None for u in units) or len({len(u) for u in units}) != 1:
        return None
    n = len(units[0])
    if n < 2:
        return None
    if metric_batch(key, sets[0], np.ones((1, n))) is None:  # a metric the items do not determine
        return None
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    mean = np.mean([metric_batch(key, x, w) for x in item_sets], axis=0)
    if minus_sets:
        mean = mean - np.mean([metric_batch(key, x, w) for x in minus_sets], axis=0)
    return float(np.nanstd(mean, ddof=1))


HOLDS, DOES_NOT_HOLD, CANNOT_TELL, NOT_MEASURED = "holds", "does not hold", "cannot tell", "not measured"


def decision(iv: Interval) -> str:
    """The verdict's word alone: holds / does not hold / cannot tell (the interval holds 0, or one seed)."""
    if math.isnan(iv.mean):
        return NOT_MEASURED
    if iv.seeds < 2:
        return CANNOT_TELL
    return HOLDS if iv.lo > 0 else DOES_NOT_HOLD if iv.hi < 0 else CANNOT_TELL


def verdict(iv: Interval) -> str:
    """holds / does not hold / cannot tell at this budget, with the interval of the gap."""
    word = decision(iv)
    if word == NOT_MEASURED:
        return word
    noise = "seeds and test items" if iv.item_noise else "seeds only (no per-item records)"
    detail = f"gap {iv.mean:+.1f}, 95% interval [{iv.lo:+.1f}, {iv.hi:+.1f}] over {iv.seeds} seed(s), {noise}"
    if iv.seeds < 2:
        return f"cannot tell at this budget: one seed, training noise unknown ({detail})"
    if word == CANNOT_TELL:
        return f"cannot tell at this budget ({detail})"
    return f"{word} ({detail})"
