"""How often the tables' 95% interval covers a known gap, against the Welch-Satterthwaite alternative.

Simulated paired studies (tests/test_statistics.py `_studies`: training noise per seed, a fresh test set of 200
items, seed-by-item interaction; the item standard error by the suite's bootstrap with the interaction removed),
2,000 per cell, at 3, 5 and 8 seeds, five sizes of the training noise and two of the interaction. Prints the
coverage of:
  suite: the generalized (fiducial) interval (analysis/statistics.py `combine`);
  ws:    t_{df} x sqrt(seed var + item var) with the Welch-Satterthwaite df on the same two parts.
The Monte Carlo standard error of each coverage is about 0.5 points.

    python benchmarks/interval_coverage.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy.stats import t  # noqa: E402

from analysis.statistics import combine, satterthwaite_df  # noqa: E402
from tests.test_statistics import _studies  # noqa: E402

GAP, N = 2.0, 2000


def main() -> None:
    print("| seeds | training noise SD | interaction SD | suite (fiducial) | Welch-Satterthwaite |")
    print("|---|---|---|---|---|")
    for seeds in (3, 5, 8):
        for sd_seed in (0.0, 0.5, 1.0, 2.0, 4.0):
            for sd_noise in (3.0, 10.0):
                suite = ws = 0
                for v, se in _studies(N, seeds, gap=GAP, seed=seeds, sd_seed=sd_seed, sd_noise=sd_noise):
                    iv = combine(v, se)
                    suite += iv.lo <= GAP <= iv.hi
                    seed_var = v.var(ddof=1) / seeds
                    half = t.ppf(0.975, satterthwaite_df(seed_var, seeds, se ** 2)) * math.sqrt(seed_var + se ** 2)
                    ws += abs(v.mean() - GAP) <= half
                print(f"| {seeds} | {sd_seed} | {sd_noise} | {100 * suite / N:.1f}% | {100 * ws / N:.1f}% |",
                      flush=True)


if __name__ == "__main__":
    main()
