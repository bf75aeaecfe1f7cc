"""How often the tables' 95% interval covers a known gap, against a Welch-Satterthwaite alternative.

Simulated paired studies (tests/test_statistics.py `_studies`: training noise per seed, a fresh test set of 200
items, seed-by-item interaction; the item standard error by the suite's bootstrap), 2,000 per cell, at 3, 5 and 8
seeds and four sizes of the training noise. Prints the coverage of:
  quad: the suite's interval, sqrt((t_{S-1} seed SE)^2 + (1.96 item SE)^2) (analysis/statistics.py `combine`);
  ws:   t_{df} x sqrt(seed var + item var) with the Welch-Satterthwaite df.

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


def main() -> None:
    print("| seeds | training noise SD | quad (the suite's) | Welch-Satterthwaite |\n|---|---|---|---|")
    for seeds in (3, 5, 8):
        for sd_seed in (0.2, 0.5, 1.0, 2.0):
            quad = ws = 0
            for v, se in _studies(2000, seeds, gap=2.0, seed=seeds, sd_seed=sd_seed):
                quad += combine(v, se).lo <= 2.0 <= combine(v, se).hi
                seed_var = v.var(ddof=1) / seeds
                half = t.ppf(0.975, satterthwaite_df(seed_var, seeds, se ** 2)) * math.sqrt(seed_var + se ** 2)
                ws += abs(v.mean() - 2.0) <= half
            print(f"| {seeds} | {sd_seed} | {quad / 20:.2f}% | {ws / 20:.2f}% |")


if __name__ == "__main__":
    main()
