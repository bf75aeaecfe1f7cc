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
report can be resampled (each evaluator's own `resample` rule); a metric without items (e.g. class_cos) carries
training noise only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

N_BOOT = 1000
Z = 1.959963984540054  # the standard normal's 0.975 quantile


def t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _rule(key: str):
    """(the evaluator owning a metric key, its dataset spec "<task>/<dataset>", the metric name)."""
    from methods.evals import EVALUATORS

    task, dataset, metric = key.split("/", 2)
    return EVALUATORS.get(task), f"{task}/{dataset}", metric


def _fields(spec: str, items: dict) -> dict:
    """A run's items of one evaluation, by field name ("<task>/<dataset>/<field>" -> "<field>")."""
    prefix = f"{spec}/"
    return {k[len(prefix):]: v for k, v in items.items() if k.startswith(prefix)}


def _units(key: str, items: dict) -> np.ndarray | None:
    """The per-item array a metric resamples (its first axis = the test items), or None without items."""
    evaluator, spec, metric = _rule(key)
    return None if evaluator is None else items.get(f"{spec}/{evaluator.unit(metric)}")


def n_items(key: str, items: dict) -> int | None:
    """How many test items a metric is computed over (the bootstrap's unit), or None without items."""
    arr = _units(key, items)
    return None if arr is None else len(arr)


def metric_batch(key: str, items: dict, weights: np.ndarray) -> np.ndarray | None:
    """The metric `key` recomputed from a run's items under R weightings of its test items: weights (R, n) of
    non-negative counts (ones = the whole test set once; a bootstrap replicate = multinomial counts). Returns (R,)
    values in the evaluators' units (percent), or None when the run has no items for this metric. The rule is the
    evaluator's own (methods/evals/<task>.py `resample`): a metric is defined in one place."""
    if _units(key, items) is None:
        return None
    evaluator, spec, metric = _rule(key)
    return evaluator.resample(metric, _fields(spec, items), np.asarray(weights, dtype=float))


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
