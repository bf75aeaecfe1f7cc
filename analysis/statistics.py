"""Statistics that can decide: a 95% interval for every table cell and for every claim "A beats B on m".

Two noise sources make a tiny-scale number move: training (another seed, another result) and evaluation (a
finite test set). The per-seed, per-item scores follow a crossed random-effects model: a seed effect, an item
effect (which items the test set drew) and their interaction. The variance of the seed-mean is fitted by moments
from the runs' own records:
- seed part: the spread over seeds of the cell's value (for a claim, of the paired per-seed difference A - B,
  the same seed giving both methods the same data order and initialisation), var / S, with S - 1 df; it holds
  the seed effect and the seed-by-item interaction;
- item part: what the seeds share, the item effect alone: a bootstrap over test items (the same resampled items
  for every seed and both methods, so the difference stays paired) gives the variance u of the seed-mean and the
  mean per-seed variance w; the interaction's share of u is (w - u) / (S - 1), removed so it is not counted twice.
The 95% interval is the generalized (fiducial) interval of the mean when the seed part is estimated with S - 1 df
and the item part is known (hundreds of items): the half-width h solves E_c[P(|Z| sqrt(a (S-1) / c + u') <= h)] =
0.95 over c ~ chi2_{S-1} (a the seed part, u' the item part). It is the t_{S-1} interval without items and the
normal one without seed spread. Measured over 2,000 simulated studies per cell (tests/test_statistics.py,
`python benchmarks/interval_coverage.py`: 3, 5 and 8 seeds, five training-noise sizes, two interaction sizes) it
covers 94.0-95.7% at 8 seeds, 95.3-96.7% at 5 and 94.8-97.3% at 3 (conservative where the seed part is small and
estimated with 2 df). The plug-in alternative is liberal at 3 seeds: a Welch-Satterthwaite df on the same two
parts covers 91.2-94.5% there (a parametric bootstrap of the t ratio did worse in a one-off check; their df grows
exactly when the seed spread is underestimated), so they are not used.
With one seed the training part is unknown and a claim cannot be decided.

Each interval carries its standard error and df, hence a two-sided p-value for "no gap" and the smallest gap the
design detects with 80% power, (t_{0.975, df} + t_{0.80, df}) x SE: what a "cannot tell" could have seen. Across a
manifest's claims, the secondary ones are judged on Holm-adjusted p-values (`holm`); its primary claims
(manifest PRIMARY, registered before the runs) on their own interval.

Verdicts: "holds" (the whole interval above 0), "does not hold" (the whole interval below 0), "cannot tell at
this budget" (the interval holds 0, or one seed). Metrics are recomputed from each run's items.npz (per-test-item
ranks, correctness and groups, per-image confusion matrices; methods/evals), so every metric the evaluators
report can be resampled (each evaluator's own `resample` rule); a metric without items (e.g. class_cos) carries
training noise only.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from methods.evals import EVALUATORS

N_BOOT = 1000
Z = 1.959963984540054  # the standard normal's 0.975 quantile


def t_quantile(df: float, q: float = 0.975) -> float:
    """The q quantile of Student's t with df degrees of freedom (df may be fractional; inf: the normal's)."""
    from scipy.stats import norm, t

    return float(norm.ppf(q) if math.isinf(df) else t.ppf(q, df))


POWER = 0.80
ALPHA = 0.05  # every claim's family-wise level (a primary alone; the secondaries of a manifest together, Holm)


def implied_df(half: float, se: float) -> float:
    """The df of the t quantile that gives `half` from `se` (inf when half <= 1.96 se): the interval's own df, so
    that p < 0.05 exactly when the interval excludes 0."""
    from scipy.optimize import brentq
    from scipy.stats import t

    ratio = half / se
    lo, hi = math.log(1e-3), math.log(1e7)
    if ratio <= t.ppf(0.975, math.exp(hi)):  # the normal's quantile, to the precision a df can express
        return math.inf
    if ratio >= t.ppf(0.975, math.exp(lo)):
        return math.exp(lo)
    return math.exp(brentq(lambda lg: t.ppf(0.975, math.exp(lg)) - ratio, lo, hi))


def satterthwaite_df(seed_var: float, seeds: int, item_var: float) -> float:
    """Welch-Satterthwaite df of seed_var (the variance of the seed-mean, S - 1 df) + item_var (a bootstrap
    variance over hundreds of items: taken as known)."""
    if seeds < 2:
        return math.nan
    if seed_var <= 0:
        return math.inf
    return (seeds - 1) * ((seed_var + item_var) / seed_var) ** 2


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control over the list). A NaN (a claim not measured
    yet, or on one seed) stays NaN but counts in the family as p = 1, ranked last: an interim reading is then
    conservative, its adjusted p-values can only fall as the rest are measured (tests/test_statistics.py)."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def holm_levels(pvalues: list[float], alpha: float = ALPHA) -> list[float]:
    """The level each claim is tested at in Holm's step-down: alpha / (m - rank), rank 0 for the smallest p (ties
    in list order; a NaN ranked last, as `holm` counts it). A claim holds at its step when p is below it (and every
    smaller p held): the level its detectable gap is computed at."""
    p = np.asarray(pvalues, dtype=float)
    order = sorted(range(len(p)), key=lambda i: (math.isnan(p[i]), 0.0 if math.isnan(p[i]) else p[i], i))
    out = [math.nan] * len(p)
    for rank, i in enumerate(order):
        out[i] = alpha / (len(p) - rank)
    return out


def _rule(key: str):
    """(the evaluator owning a metric key, its dataset spec "<task>/<dataset>", the metric name)."""

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


def items_key(key: str) -> str | None:
    """The items.npz key a metric is recomputed from ("<task>/<dataset>/<field>"), None for a metric without one."""
    evaluator, spec, metric = _rule(key)
    unit = evaluator.unit(metric) if evaluator is not None else None
    return f"{spec}/{unit}" if unit else None


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
    se: float = math.nan  # standard error of the mean (seed and item parts)
    df: float = math.nan  # the df of the t quantile that gives the half-width from se (implied_df)

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2

    @property
    def p(self) -> float:
        """Two-sided p-value of "the gap is 0" (NaN with one seed)."""
        from scipy.stats import t

        if self.seeds < 2 or math.isnan(self.se):
            return math.nan
        if self.se == 0:  # every seed gave the same gap and no item noise: p is 0 for any gap but none
            return 1.0 if self.mean == 0 else 0.0
        z = abs(self.mean) / self.se
        return float(2 * (t.sf(z, self.df) if not math.isinf(self.df) else t.sf(z, 1e9)))

    @property
    def detectable(self) -> float:
        """The smallest true gap this design detects with 80% power at the 5% level (two-sided)."""
        return self.detectable_at(ALPHA)

    def detectable_at(self, alpha: float) -> float:
        """The smallest true gap this design detects with 80% power in a two-sided test at level `alpha`:
        (t_{1 - alpha/2, df} + t_{0.80, df}) x SE (a secondary claim's alpha is its Holm step's, `holm_levels`)."""
        if self.seeds < 2 or not self.se > 0:
            return 0.0 if self.seeds >= 2 and self.se == 0 else math.nan
        return (t_quantile(self.df, 1 - alpha / 2) + t_quantile(self.df, POWER)) * self.se


def interval(values: list[float], item_sets: list[dict | None] | None = None, key: str = "",
             minus: list[float] | None = None, minus_items: list[dict | None] | None = None,
             n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """95% interval of the seed-mean of `values` (per seed), or with `minus` of the paired difference
    values - minus (same seeds, same order). Item noise from the runs' items when every run has them."""
    v = np.asarray(values, dtype=float) - (np.asarray(minus, dtype=float) if minus is not None else 0.0)
    s = len(v)
    if s == 0 or np.isnan(v).any():
        return Interval(math.nan, math.nan, math.nan, s, False)
    item_se = _item_se(key, item_sets, minus_items if minus is not None else None, n_boot, seed)
    return combine(v, item_se)


_NODES = 1024  # chi-square quantile nodes for the fiducial integral (midpoint rule in probability)


@functools.lru_cache(maxsize=64)
def _chi2_nodes(df: int) -> np.ndarray:
    from scipy.stats import chi2

    return chi2.ppf((np.arange(_NODES) + 0.5) / _NODES, df)


def fiducial_half(seed_var: float, seeds: int, item_var: float, level: float = 0.95) -> float:
    """Half-width of the generalized (fiducial) interval of a mean whose variance is seed_var (estimated with
    seeds - 1 df) + item_var (known): see the module docstring."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    if seed_var <= 0:
        return float(norm.ppf(0.5 + level / 2)) * math.sqrt(item_var)
    k = seeds - 1
    if item_var <= 0:  # the t interval, exactly
        return t_quantile(k, 0.5 + level / 2) * math.sqrt(seed_var)
    scale = np.sqrt(seed_var * k / _chi2_nodes(k) + item_var)
    lo = float(norm.ppf(0.5 + level / 2)) * math.sqrt(seed_var + item_var) * 0.5
    hi = (t_quantile(k, 0.5 + level / 2) + Z) * math.sqrt(seed_var + item_var)
    return float(brentq(lambda h: np.mean(2 * norm.cdf(h / scale) - 1) - level, lo, hi, xtol=1e-10, rtol=1e-10))


def combine(values, item_se: float | None = None) -> Interval:
    """The 95% interval of the mean of per-seed `values` (or paired differences) with `item_se`, the standard error
    of that mean from the test items the seeds share (the interaction removed; None: no item noise): see the
    module docstring."""
    v = np.asarray(values, dtype=float)
    s, mean = len(v), float(v.mean())
    item_var = (item_se or 0.0) ** 2
    if s < 2:  # training noise unknown: the item part alone (a claim is not decided on it)
        half = Z * math.sqrt(item_var)
        return Interval(mean, mean - half, mean + half, s, item_se is not None, math.sqrt(item_var), math.nan)
    seed_var = float(v.var(ddof=1)) / s
    se = math.sqrt(seed_var + item_var)
    half = fiducial_half(seed_var, s, item_var)
    df = implied_df(half, se) if se > 0 else math.nan
    return Interval(mean, mean - half, mean + half, s, item_se is not None, se, df)


def shared_item_var(per_seed: np.ndarray) -> float:
    """The item part of the seed-mean's variance from bootstrap replicates `per_seed` (R, S) of each seed's metric
    under the same resampled test items: the variance u of their seed-mean, less the seed-by-item interaction's
    share (w - u) / (S - 1), w the mean per-seed variance (a moment fit of the crossed model; never below 0)."""
    per_seed = np.asarray(per_seed, dtype=float)
    u = float(np.nanvar(per_seed.mean(axis=1), ddof=1))
    s = per_seed.shape[1]
    if s < 2:
        return u
    w = float(np.nanmean(np.nanvar(per_seed, axis=0, ddof=1)))
    return max(u - max(w - u, 0.0) / (s - 1), 0.0)


def _item_se(key: str, item_sets, minus_sets, n_boot: int, seed: int) -> float | None:
    """Bootstrap standard error of the seed-mean (of the difference) from the test items the seeds share."""
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
    per_seed = np.stack([metric_batch(key, x, w) for x in item_sets], axis=1)
    if minus_sets:
        per_seed = per_seed - np.stack([metric_batch(key, x, w) for x in minus_sets], axis=1)
    return math.sqrt(shared_item_var(per_seed))


HOLDS, DOES_NOT_HOLD, CANNOT_TELL, NOT_MEASURED = "holds", "does not hold", "cannot tell", "not measured"
ONE_SEED = f"{CANNOT_TELL} at this budget: one seed"


def verdict_word(text: str) -> str:
    """The word a `verdict` text starts with (holds, does not hold, cannot tell, not measured)."""
    return next(w for w in (HOLDS, DOES_NOT_HOLD, CANNOT_TELL, NOT_MEASURED) if text.startswith(w))


def pending(text: str) -> bool:
    """A `verdict` text whose claim has no p-value yet (not measured, or one seed): Holm counts it as p = 1."""
    return text.startswith((NOT_MEASURED, ONE_SEED))


def decision(iv: Interval) -> str:
    """The verdict's word alone: holds / does not hold / cannot tell (the interval holds 0, or one seed)."""
    if math.isnan(iv.mean):
        return NOT_MEASURED
    if iv.seeds < 2:
        return CANNOT_TELL
    return HOLDS if iv.lo > 0 else DOES_NOT_HOLD if iv.hi < 0 else CANNOT_TELL


def decision_holm(iv: Interval, adjusted_p: float) -> str:
    """A secondary claim's verdict word: holds / does not hold when its Holm-adjusted p is below 0.05 (the sign
    from the gap), else cannot tell."""
    if math.isnan(iv.mean):
        return NOT_MEASURED
    if iv.seeds < 2 or math.isnan(adjusted_p) or adjusted_p >= 0.05:
        return CANNOT_TELL
    return HOLDS if iv.mean > 0 else DOES_NOT_HOLD


def verdict(iv: Interval, adjusted_p: float | None = None, level: float = ALPHA) -> str:
    """holds / does not hold / cannot tell at this budget, with the interval of the gap, its p-value (and the
    Holm-adjusted one for a secondary claim, which then decides) and, for "cannot tell", the smallest gap the
    design detects with 80% power at the level the claim is tested at (`level`: a secondary claim's Holm step,
    `holm_levels`)."""
    word = decision(iv) if adjusted_p is None else decision_holm(iv, adjusted_p)
    if word == NOT_MEASURED:
        return word
    noise = "seeds and test items" if iv.item_noise else "seeds only (no per-item records)"
    detail = f"gap {iv.mean:+.1f}, 95% interval [{iv.lo:+.1f}, {iv.hi:+.1f}] over {iv.seeds} seed(s), {noise}"
    if iv.seeds < 2:
        return f"{ONE_SEED}, training noise unknown ({detail})"
    detail += f", p {_p(iv.p)}" + (f", Holm-adjusted p {_p(adjusted_p)}" if adjusted_p is not None else "")
    if word == CANNOT_TELL:
        at = "" if level == ALPHA else f" at its Holm level {level:.3g}"
        return (f"cannot tell at this budget ({detail}; detectable with 80% power{at}: a gap of "
                f"{iv.detectable_at(level):.1f})")
    return f"{word} ({detail})"


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"
