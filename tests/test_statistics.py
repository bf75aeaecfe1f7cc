"""The statistics behind every table cell and claim, on synthetic numbers with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.statistics import Interval, interval, metric_batch, n_items, t_quantile, verdict


def test_metrics_recomputed_from_items_equal_the_evaluators():
    from methods.evals import sclip as segmentation
    from methods.evals.classification import classification_metrics
    from methods.evals.probes import per_group
    from methods.evals.retrieval import recalls

    rng = np.random.default_rng(0)
    i2t, t2i = rng.integers(0, 12, 40), rng.integers(0, 12, 90)
    items = {"retrieval/scenes/i2t_rank": i2t, "retrieval/scenes/t2i_rank": t2i}
    ref = recalls(torch.tensor(i2t), torch.tensor(t2i))
    ones = lambda n: np.ones((1, n))  # noqa: E731
    for k, v in ref.items():
        assert metric_batch(f"retrieval/scenes/{k}", items, ones(40 if k.startswith("i2t") else 90))[0] == \
            pytest.approx(v)
    correct, groups = rng.random(50) < 0.6, np.array(["a", "b", "c", "a", "b"] * 10)
    items = {"compositional/scenes/correct": correct, "compositional/scenes/group": groups}
    ref = per_group(torch.tensor(correct), list(groups))
    for k, v in ref.items():
        assert metric_batch(f"compositional/scenes/{k}", items, ones(50))[0] == pytest.approx(v)
    emb = torch.nn.functional.normalize(torch.randn(30, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    classes = torch.nn.functional.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(1)), dim=-1)
    labels = torch.arange(30) % 6
    from methods.evals.classification import class_ranks

    ref = classification_metrics(emb, classes, labels, mean_per_class=True)
    items = {"classification/scenes/rank": class_ranks(emb, classes, labels).numpy(),
             "classification/scenes/label": labels.numpy()}
    for k in ("top1", "top5", "mean_per_class"):
        assert metric_batch(f"classification/scenes/{k}", items, ones(30))[0] == pytest.approx(ref[k])
    confs = rng.integers(0, 20, (7, 4, 5))
    confs[:, 3, :] = 0  # a class never present: left out of the mean, as the evaluator does
    ref = segmentation.miou(torch.tensor(confs.sum(0)))
    items = {"segmentation/scenes/conf": confs}
    assert metric_batch("segmentation/scenes/miou", items, ones(7))[0] == pytest.approx(ref["miou"])
    assert metric_batch("segmentation/scenes/pixel_acc", items, ones(7))[0] == pytest.approx(ref["pixel_acc"])
    assert metric_batch("classification/scenes/class_cos", items, ones(7)) is None  # no items for it


def test_seed_noise_alone_gives_the_t_interval():
    iv = interval([61.0, 62.0, 63.0])  # no items: training noise only
    half = t_quantile(2) * 1.0 / math.sqrt(3)  # sd 1 over 3 seeds
    assert t_quantile(2) == pytest.approx(4.302653, abs=1e-5)
    assert (iv.mean, iv.lo, iv.hi, iv.item_noise) == pytest.approx((62.0, 62.0 - half, 62.0 + half, False))
    gap = interval([1.0, 2.0, 3.0], minus=[0.0, 0.0, 0.0])
    assert "cannot tell at this budget (gap +2.0, 95% interval [-0.5, +4.5] over 3 seed(s)" in verdict(gap)
    tight = interval([2.0, 2.1, 1.9], minus=[0.0, 0.0, 0.0])
    assert verdict(tight).startswith("holds (gap +2.0, 95% interval [+1.8, +2.2]")
    assert verdict(interval([5.0, 5.2, 4.8], minus=[7.0, 7.0, 7.0])).startswith("does not hold (gap -2.0")
    assert verdict(interval([70.0], minus=[20.0])).startswith("cannot tell at this budget: one seed")


def test_item_noise_matches_the_analytic_standard_error_of_a_paired_accuracy_difference():
    """One test set of n items, both methods evaluated on it: the bootstrap of the paired difference has the
    standard error sd(d_i) / sqrt(n), d_i = correct_A(i) - correct_B(i)."""
    rng = np.random.default_rng(1)
    n = 2000
    a = rng.random(n) < 0.6
    b = np.where(rng.random(n) < 0.7, a, rng.random(n) < 0.5)  # correlated with A, as two models on one test set
    d = 100.0 * (a.astype(float) - b.astype(float))
    analytic = d.std(ddof=1) / math.sqrt(n)
    key = "linear/scenes/top1"
    items_a, items_b = {"linear/scenes/correct": a}, {"linear/scenes/correct": b}
    iv = interval([100.0 * a.mean()] * 2, [items_a, items_a], key, minus=[100.0 * b.mean()] * 2,
                  minus_items=[items_b, items_b], n_boot=2000)
    # two identical seeds: no training noise; the half-width is 1.96 x the item standard error
    assert iv.item_noise and iv.half / 1.959964 == pytest.approx(analytic, rel=0.08)
    assert iv.mean == pytest.approx(d.mean())
    unpaired = interval([100.0 * a.mean()] * 2, [items_a, items_a], key, n_boot=2000)
    assert unpaired.half / 1.959964 == pytest.approx(100.0 * a.std(ddof=1) / math.sqrt(n), rel=0.08)


def test_both_noise_sources_enter_and_missing_items_fall_back_to_seeds():
    rng = np.random.default_rng(2)
    hard = rng.random(500)  # items the seeds share: the same easy and hard test items for every seed
    items = [{"linear/scenes/correct": (hard + 0.1 * rng.random(500)) < p} for p in (0.5, 0.55, 0.6)]
    values = [100.0 * x["linear/scenes/correct"].mean() for x in items]
    both = interval(values, items, "linear/scenes/top1")
    seeds_only = interval(values)
    assert both.half > seeds_only.half and both.item_noise and not seeds_only.item_noise
    assert not interval(values, items[:2] + [None], "linear/scenes/top1").item_noise
    assert isinstance(both, Interval) and both.mean == pytest.approx(np.mean(values))


def test_a_run_records_items_that_reproduce_every_logged_metric(scenes, tmp_path):
    """End to end: the final evaluation's items.npz recomputes each logged metric exactly, so the bootstrap
    resamples what the table shows."""
    import json

    from analysis.cells import load_items
    from experiments import config as C
    from experiments.experiment import run_training
    from experiments.comparison import COMPARISON_EVALS

    from .conftest import tiny_overrides

    cfg = C.resolve(tiny_overrides(**{"train.steps": 2, "eval.sets": COMPARISON_EVALS + ("linear/scenes",),
                                      "eval.linear_train_size": 64}))
    run = run_training(cfg, tmp_path)
    items = load_items(tmp_path, run._id)
    result = json.loads((tmp_path / str(run._id) / "run.json").read_text())["result"]
    checked = 0
    for key, value in result.items():
        n = n_items(key, items)
        got = metric_batch(key, items, np.ones((1, n))) if n else None
        if got is None:
            continue
        assert got[0] == pytest.approx(value, rel=1e-6), key  # the evaluators average in float32
        checked += 1
    assert checked >= 20  # recalls, top-1/5, every compositional and perception group, mIoU, linear top-1


def _studies(n_studies: int, seeds: int, gap: float = 0.0, items: int = 200, n_boot: int = 200, seed: int = 0,
             sd_seed: float = 1.0, sd_item: float = 5.0, sd_noise: float = 3.0):
    """Simulated paired studies with a known true gap: per seed s and test item i the paired difference is
    gap + a_s + b_i + e_si (a: training noise, b: which items the test set drew, e: their interaction); each study
    draws its own test set and its item standard error by the suite's bootstrap (the same resampled items for
    every seed, the interaction removed by `shared_item_var`). Yields (per-seed values, item SE)."""
    from analysis.statistics import shared_item_var

    rng = np.random.default_rng(seed)
    for _ in range(n_studies):
        x = gap + rng.normal(0, sd_seed, (seeds, 1)) + rng.normal(0, sd_item, (1, items)) + \
            rng.normal(0, sd_noise, (seeds, items))
        w = rng.multinomial(items, np.full(items, 1.0 / items), size=n_boot)
        per_seed = w @ x.T / items  # (n_boot, seeds): each seed's mean under each resampled test set
        yield x.mean(axis=1), math.sqrt(shared_item_var(per_seed))


@pytest.mark.parametrize("seeds,sd_seed,sd_noise,bounds", [
    (3, 1.0, 3.0, (0.945, 0.975)), (3, 0.2, 10.0, (0.945, 0.975)), (5, 1.0, 10.0, (0.94, 0.97)),
    (8, 0.5, 3.0, (0.935, 0.965)), (8, 2.0, 10.0, (0.935, 0.965))])
def test_the_interval_covers_the_true_gap_95_percent_of_the_time(seeds, sd_seed, sd_noise, bounds):
    """2,000 simulated studies per case; the bounds are 95 +- 1.5% at 8 seeds and the measured conservative
    margin at 3 and 5 (analysis/statistics.py; the Monte Carlo SE of a coverage is 0.5 points)."""
    from analysis.statistics import combine

    ivs = [combine(v, se) for v, se in _studies(2000, seeds, gap=2.0, seed=seeds, sd_seed=sd_seed,
                                                sd_noise=sd_noise)]
    coverage = np.mean([iv.lo <= 2.0 <= iv.hi for iv in ivs])
    assert bounds[0] <= coverage <= bounds[1], coverage
    assert t_quantile(ivs[0].df) * ivs[0].se == pytest.approx(ivs[0].half, rel=1e-6)
    assert all((iv.p < 0.05) == (iv.lo > 0 or iv.hi < 0) for iv in ivs[:300])


def test_the_interval_width_against_its_analytic_forms():
    """No item part: the t_{S-1} interval; no seed spread: the normal one; both: the fiducial integral, computed
    here independently by adaptive quadrature over the chi-square density."""
    from scipy.integrate import quad
    from scipy.optimize import brentq
    from scipy.stats import chi2, norm

    from analysis.statistics import combine, fiducial_half

    v = np.array([1.0, 2.5, 4.0])
    seed_var = v.var(ddof=1) / 3
    assert combine(v).half == pytest.approx(t_quantile(2) * math.sqrt(seed_var), rel=2e-3)
    assert combine([2.0, 2.0, 2.0], 0.5).half == pytest.approx(1.959964 * 0.5, rel=1e-6)
    for seeds, a, u in ((3, 1.0, 0.3), (5, 0.2, 1.0), (8, 2.0, 0.1)):
        k = seeds - 1
        cover = lambda h: quad(lambda c: (2 * norm.cdf(h / math.sqrt(a * k / c + u)) - 1) * chi2.pdf(c, k),  # noqa
                               0, np.inf, limit=200)[0]
        exact = brentq(lambda h: cover(h) - 0.95, 0.1, 50)
        assert fiducial_half(a, seeds, u) == pytest.approx(exact, rel=3e-3)
        # between the normal interval of the total and t_{S-1} on the seed part plus the item part
        assert 1.959964 * math.sqrt(a + u) < exact < t_quantile(k) * math.sqrt(a) + 1.959964 * math.sqrt(u)


def test_the_crossed_fit_removes_the_seed_by_item_interaction():
    """Known answer: under gap + a_s + b_i + e_si on one test set of n items, the shared item part of the
    seed-mean's variance is var(b) / n; the plain bootstrap of the seed-mean also holds var(e) / (S n)."""
    from analysis.statistics import shared_item_var

    rng = np.random.default_rng(3)
    seeds, n, sd_b, sd_e = 3, 400, 2.0, 6.0
    x = rng.normal(0, 1, (seeds, 1)) + rng.normal(0, sd_b, (1, n)) + rng.normal(0, sd_e, (seeds, n))
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=4000)
    per_seed = w @ x.T / n
    shared = shared_item_var(per_seed)
    # the textbook two-way ANOVA (one observation per seed and item): (MS_item - MS_residual) / (S n)
    m = x.mean(axis=0)
    residual = x - m - x.mean(axis=1, keepdims=True) + x.mean()
    ms_item, ms_res = seeds * m.var(ddof=1), (residual ** 2).sum() / ((seeds - 1) * (n - 1))
    assert shared == pytest.approx((ms_item - ms_res) / (seeds * n), rel=0.1)
    assert per_seed.mean(axis=1).var(ddof=1) == pytest.approx(m.var(ddof=1) / n, rel=0.1)  # the plain bootstrap
    assert shared_item_var(np.repeat(per_seed[:, :1], 3, axis=1)) == pytest.approx(per_seed[:, 0].var(ddof=1))


def test_the_detectable_gap_is_detected_80_percent_of_the_time():
    from analysis.statistics import combine

    first = [combine(v, se) for v, se in _studies(400, 5, seed=7)]
    gap = float(np.median([iv.detectable for iv in first]))  # this design's detectable gap
    hits = np.mean([combine(v, se).lo > 0 for v, se in _studies(2000, 5, gap=gap, seed=8)])
    assert 0.75 <= hits <= 0.85, hits


def test_the_implied_df_never_fails_at_the_normal_end():
    """A half-width a hair above 1.96 SE (a seed part tiny against the item part) is the normal interval: df inf."""
    from analysis.statistics import combine, implied_df

    assert math.isinf(implied_df(1.959964 * (1 + 1e-11), 1.0)) and math.isinf(implied_df(1.0, 1.0))
    assert implied_df(4.302653, 1.0) == pytest.approx(2.0, rel=1e-4)
    iv = combine([2.0, 2.0 + 1e-9], 0.5)
    assert iv.half == pytest.approx(1.959964 * 0.5, rel=1e-6) and math.isinf(iv.df)


def test_holm_on_a_partly_measured_family_is_conservative():
    """A family read before all its claims are measured: each adjusted p is at least the one the whole family
    gives, whatever the missing p-values turn out to be."""
    from analysis.statistics import holm

    rng = np.random.default_rng(0)
    for _ in range(200):
        full = rng.uniform(0, 0.2, size=6).tolist()
        missing = rng.choice(6, size=rng.integers(1, 4), replace=False)
        partial = [float("nan") if i in missing else p for i, p in enumerate(full)]
        for i, (a, b) in enumerate(zip(holm(partial), holm(full))):
            assert (i in missing and math.isnan(a)) or a >= b - 1e-12


def test_satterthwaite_holm_and_p_values_on_known_answers():
    from analysis.statistics import combine, holm, satterthwaite_df

    assert satterthwaite_df(1.0, 3, 1.0) == pytest.approx(8.0)  # 2 x (2 / 1)^2
    assert satterthwaite_df(1.0, 3, 0.0) == pytest.approx(2.0)  # no item part: the t interval's S - 1
    assert math.isinf(satterthwaite_df(0.0, 3, 1.0))
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, float("nan")])[0] == 0.4 and math.isnan(holm([0.2, float("nan")])[1])  # NaN counts, as p = 1
    iv = combine([1.0, 2.0, 3.0])  # mean 2, se 1/sqrt(3), df 2 (no item part: the t interval)
    assert iv.df == pytest.approx(2.0, rel=1e-6)
    from scipy.stats import t

    assert iv.p == pytest.approx(2 * t.sf(2 / (1 / math.sqrt(3)), 2))
    assert iv.detectable == pytest.approx((t.ppf(0.975, 2) + t.ppf(0.8, 2)) / math.sqrt(3))
    assert "detectable with 80% power: a gap of" in verdict(iv)
    assert verdict(combine([2.0, 2.1, 1.9]), adjusted_p=0.2).startswith("cannot tell"), "Holm decides secondaries"


def test_detectable_gaps_at_the_level_a_claim_is_judged_known_answers():
    """A secondary claim is decided on its Holm-adjusted p, i.e. at its Holm step's level alpha / (m - rank): its
    detectable gap is (t_{1 - level/2, df} + t_{0.80, df}) x SE at that level, not at 5% (table3's COSMOS vs SLIP
    on the SugarCrepe-style average: SE 1.087, df 2.03)."""
    from scipy.stats import t

    from analysis.report import joint_error
    from analysis.statistics import Interval, holm_levels

    iv = Interval(mean=2.0, lo=-1.0, hi=5.0, seeds=3, item_noise=True, se=1.087, df=2.03)
    for level, want in ((0.05, 5.760), (0.05 / 3, 9.288), (0.05 / 12, 17.423)):
        assert iv.detectable_at(level) == pytest.approx(want, abs=1e-3)
        assert iv.detectable_at(level) == pytest.approx((t.ppf(1 - level / 2, 2.03) + t.ppf(0.8, 2.03)) * 1.087)
    assert iv.detectable == iv.detectable_at(0.05)
    assert holm_levels([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4])
    assert holm_levels([0.2, float("nan"), 0.1]) == pytest.approx([0.05 / 2, 0.05, 0.05 / 3])  # NaN ranked last
    line = verdict(iv, adjusted_p=0.3, level=0.05 / 3)
    assert line.startswith("cannot tell") and "detectable with 80% power at its Holm level 0.0167: a gap of 9.3" in line
    assert "at most 10%" in joint_error(2) and "9.8%" in joint_error(2)
