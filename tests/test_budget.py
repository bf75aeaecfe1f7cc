"""The budget study: claims judged at every evaluation during training, the sentence rule, and the tiny profile's
own budget rule."""

import pytest

from analysis import make
from analysis.budget import sentence
from analysis.load import load_runs
from analysis.statistics import CANNOT_TELL, DOES_NOT_HOLD, HOLDS
from experiments import manifests, plan, scales
from experiments.errors import ConfigError
from experiments.layout import curve_points
from experiments.orchestrate import run_manifest

from .conftest import ROOT, tiny_overrides

H, N, Q = HOLDS, DOES_NOT_HOLD, CANNOT_TELL


def test_a_curve_that_never_separates_says_the_largest_gap_it_could_miss():
    from analysis.budget import sentence

    got = sentence([(1, Q), (2, Q), (3, Q)], [4.0, 6.5, 3.0])
    assert got.startswith("interval contains 0 at every budget up to 3 samples (a gap larger than 6.5 would have "
                          "shown with 80% power")
    assert sentence([(1, Q), (2, H)], [4.0, 6.5]) == "interval above 0 from 2 samples on"


@pytest.mark.parametrize("verdicts, expected", [
    ([Q, Q, H, H], "interval above 0 from 3 samples on"),
    ([H, H, H, H], "interval above 0 from 1 samples on"),
    ([H, Q, H, H], "interval above 0 from 3 samples on"),  # containing 0 is not the other side
    ([Q, N, N, N], "interval below 0 from 2 samples on"),
    ([Q, Q, Q, Q], "interval contains 0 at every budget (up to 4 samples)"),
    ([N, Q, H, H], "crosses 0 (below 0 at 1, above 0 at 3, above 0 at 4 samples)"),
    ([H, H, Q, Q], "interval excludes 0 at some budgets only (above 0 at 1, above 0 at 2 samples; contains 0 at 4)"),
    ([H, N, Q, Q], "crosses 0 (above 0 at 1, below 0 at 2 samples)"),
])
def test_sentence_rule_known_answers(verdicts, expected):
    assert sentence(list(zip([1, 2, 3, 4], verdicts))) == expected


def test_sentence_of_nothing():
    assert sentence([]) == "not measured yet"


def test_tiny_profile_follows_its_budget_rule():
    """The tiny budget is the largest multiple of 25 steps at which table3 (3 seeds; the rows the rule was
    registered on, scales.TINY_RULE_ROWS) fits 15 minutes by the dry-run estimate (experiments/scales.py): true at
    today's steps, false 25 steps later."""
    steps = scales.scale_overrides("tiny", "clip")["train.steps"]
    assert steps % 25 == 0

    def table3_seconds(n: int) -> float:
        todo = [c for c in plan.cells(manifests.load("table3"), "tiny", overrides={"train.steps": n})
                if c.row in scales.TINY_RULE_ROWS]
        assert len(todo) == 4 * len(manifests.TINY_SEEDS)
        return sum(scales.estimate_seconds(c.config) for c in todo)

    assert table3_seconds(steps) <= scales.TINY_TABLE_LIMIT_S < table3_seconds(steps + 25)


def test_budget_manifest_is_ten_times_the_tiny_profile():
    m = manifests.load("budget")
    tiny = scales.scale_overrides("tiny", "clip")["train.steps"]
    for row in m.ROWS.values():
        assert row["train.steps"] == 10 * tiny and row["train.eval_every"] == tiny
    rows = set(m.ROWS)
    for _, better, worse, _ in m.BUDGET_CLAIMS:
        assert better in rows and worse in rows


def test_budget_study_end_to_end_keeps_every_evaluation_and_judges_claims_along_the_way(scenes, tmp_path):
    common = {k: v for k, v in tiny_overrides().items() if k not in ("method", "scale")}
    overrides = common | {"train.steps": 4, "train.eval_every": 2, "train.ckpt_every": 2}
    runs, out = tmp_path / "runs", tmp_path / "reports"
    run_manifest("budget", seeds=(0, 1), rows=["CLIP", "SLIP"], runs_dir=runs, out_dir=out, overrides=overrides,
                 jobs=2)  # two worker processes at once
    df = load_runs(runs)
    assert len(df) == 4
    for fp in df["fingerprint"]:
        points = curve_points(runs / "checkpoints" / fp)
        assert sorted(points) == [2, 4], "an evaluation at every eval_every and at the end"
        assert all((p / "items.npz").exists() for p in points.values())
    md = (out / "budget.md").read_text()
    section = md.split("## Where each claim appears (budget study)")[1]
    line = next(x for x in section.splitlines() if x.startswith("- slip_table: SLIP beats CLIP zero-shot"))
    assert any(w in line for w in ("from", "contains 0 at every", "crosses 0", "excludes 0 at some")), line
    assert "(2 seed(s)); the curve: interval " in line
    assert "| Claim | 32 | 64 |" in section, "one column per budget, in training samples (steps x batch 16)"
    flops = dict(zip(df["config.method"], df["flops_per_sample"]))
    assert 0 < flops["clip"] < flops["slip"], "every run records its training FLOPs per sample"
    assert "| CLIP | " in section and "| SLIP | " in section
    assert (out / "figures" / "budget-gap-vs-samples.png").stat().st_size > 0
    assert (out / "figures" / "budget-gap-vs-flops.png").stat().st_size > 0
    assert (out / "figures" / "budget-metrics-vs-flops.png").stat().st_size > 0
    assert (out / "tables" / "budget-claims.csv").exists()
    # claims whose rows did not run are listed as not measured, never invented
    assert "- table3: COSMOS beats CLIP on MMVP-style: not measured yet" in section
    # any two rows, any logged metric, judged as the report judges a claim; clear errors otherwise
    line = next(x for x in md.splitlines() if x.startswith("- slip_table: SLIP beats CLIP zero-shot (top-1): **"))
    judged = make.compare("budget", "SLIP", "CLIP", "classification/scenes/top1", seeds=(0, 1),
                                 runs_dir=runs, overrides=overrides)
    import re

    alone = re.sub(r", Holm-adjusted p [^,;)]+", "", line.split("**")[1])  # compare judges one claim: no family
    alone = re.sub(r"; detectable with 80% power[^)]*", "", alone)  # ... so its detectable gap is at 5%
    assert re.sub(r"; detectable with 80% power: a gap of [0-9.]+", "", judged) == \
        f"SLIP vs CLIP on classification/scenes/top1: {alone}"
    with pytest.raises(ConfigError, match="metric 'classification/scenes/top9' not logged by these "
                                                         "runs; logged: classification/scenes/class_cos"):
        make.compare("budget", "SLIP", "CLIP", "classification/scenes/top9", seeds=(0, 1), runs_dir=runs,
                            overrides=overrides)
    with pytest.raises(ConfigError, match=r"no run yet for SiLC seed 0, SiLC seed 1 in .*--rows"):
        make.compare("budget", "SiLC", "CLIP", "classification/scenes/top1", seeds=(0, 1), runs_dir=runs,
                            overrides=overrides)


def _tree(folder) -> dict:
    """Every file under `folder` (relative path -> bytes) and every folder (-> None)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def test_each_tiny_report_shows_its_rows_and_claims_with_10x_the_training(tmp_path):
    """The budget study's versions of a tiny manifest's cells are its own cells (same config, 10x the steps); the
    report reads them from the runs folder, where `run.py <manifest>` restores (and verifies) the committed records
    as its own step before rendering: rendering never writes there."""
    from analysis.make import _budget_cells, _reference, reference_cells
    from experiments import archive as A
    from experiments import manifests
    from experiments.plan import cells

    budget = manifests.load("budget")
    for name, rows in (("table3", {"CLIP": "CLIP", "COSMOS": "COSMOS"}),
                       ("table5", {"+ multi-crop": "T5 + multi-crop"})):
        todo = cells(manifests.load(name), "tiny", rows=list(rows))
        longer = {(c.row, c.seed): c.fingerprint for c in _budget_cells(todo, budget)}
        want = {(r, c.seed): c.fingerprint for r, b in rows.items() for c in cells(budget, "tiny", rows=[b])}
        assert want.items() <= longer.items(), name  # every seed the study trains (8 for CLIP and COSMOS)
    table3 = manifests.load("table3")

    def restored(todo, runs):  # the explicit step of run.py <manifest>
        A.restore(A.DEFAULT, runs, {c.fingerprint for c in reference_cells("table3", table3, "tiny", todo)})
        return runs

    v4 = cells(table3, "tiny", overrides={"benchmark": "v4"})  # the v4 study: every row archived at 3+ seeds
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert "No archived run of these rows with 1000 steps" in _reference("table3", table3, "tiny", v4, fresh, {})
    assert _tree(fresh) == {}, "rendering restores nothing"
    before = _tree(restored(v4, tmp_path))
    text = _reference("table3", table3, "tiny", v4, tmp_path, {"compositional/scenes/mean": "avg"})
    assert _tree(tmp_path) == before, "rendering reads the runs folder and writes nothing there"
    assert text.startswith("## The same rows with 10x the training (1000 steps")
    assert "| COSMOS |" in text and "restored from the committed records" in text
    # its claims as the budget study judges them: one family (the study's) wherever they are printed
    assert "- table3: COSMOS beats CLIP on SugarCrepe-style avg (primary): **" in text
    assert "the study's 16 claims, 2 primary on their own intervals, the others Holm-adjusted across its 14" in text
    assert "table5:" not in text and "table1/2:" not in text, "only this table's claims"
    study = (ROOT / "reports" / "v4" / "budget.md").read_text()
    for line in (x for x in text.splitlines() if x.startswith("- table3: COSMOS beats CLIP on MMVP-style")):
        verdict = line.split("**")[1]
        assert f"**{verdict}**" in study, "the same verdict as the study's report"
    assert len(list((tmp_path / "checkpoints").iterdir())) >= 12  # 4 rows x 3 seeds (or more) with their curves
    assert _reference("table3", table3, "paper", cells(table3, "tiny"), tmp_path, {}) == ""
    diagnosis = manifests.load("diagnosis")
    assert _reference("diagnosis", diagnosis, "tiny", cells(diagnosis, "tiny"), tmp_path, {}) == "", \
        "its rows set their own training length"
    never = cells(table3, "tiny", overrides={"benchmark": "v5", "train.lr": 3.1e-4})  # configs nobody archived
    assert "No archived run of these rows with 1000 steps on this benchmark yet" in \
        _reference("table3", table3, "tiny", never, restored(never, tmp_path / "never"), {})
    now = cells(table3, "tiny", overrides={"benchmark": "v5"})
    v5 = _reference("table3", table3, "tiny", now, restored(now, tmp_path / "v5"), {})
    assert v5.startswith("## The same rows") and "No archived run" not in v5  # v5's CLIP and COSMOS are archived


def test_python_m_analysis_make_leaves_the_runs_folder_byte_identical(tmp_path):
    """`python -m analysis.make` renders from what is logged: the runs folder (runs, restored records, their curve
    points) is byte for byte what it was, while the report still holds the 10x section read from it."""
    from analysis.make import main, reference_cells
    from experiments import archive as A
    from experiments import manifests
    from experiments.plan import cells

    table3 = manifests.load("table3")
    runs = tmp_path / "runs"
    A.restore(A.DEFAULT, runs, {c.fingerprint for c in reference_cells("table3", table3, "tiny",
                                                                        cells(table3, "tiny", rows=["CLIP"]))})
    before = _tree(runs)
    assert any(k.endswith("run.json") for k in before), "records restored"
    assert main(["table3", "--runs-dir", str(runs), "--out", str(tmp_path / "out")]) == 0
    assert _tree(runs) == before
    assert "## The same rows with 10x the training" in (tmp_path / "out" / "table3.md").read_text()


def test_clip_tiny_row_is_the_budget_studys_clip_row():
    from experiments import manifests
    from experiments.plan import cells

    fps = lambda name, row: {c.fingerprint  # noqa: E731
                             for c in cells(manifests.load(name), "tiny", (0, 1, 2), rows=[row])}
    assert fps("clip_tiny", "CLIP, 1000 steps") == fps("budget", "CLIP"), "one config, trained once for both"


def test_the_final_budget_verdict_is_the_claims_sections_holm_adjusted_one():
    """A secondary claim whose own interval excludes 0 at the last budget but whose Holm-adjusted p does not
    reads as the claims section judges it; a claim the section lacks keeps its last budget's own verdict."""
    import pandas as pd

    from analysis.budget import markdown

    frame = pd.DataFrame([{"claim": c, "samples": s, "verdict": H, "detectable": 1.0, "seeds": 3, "gap": 2.0,
                           "lo": 0.5, "hi": 3.5, "pflops": 0.0} for c in ("second", "other") for s in (32, 64)])
    claims = [("second", "A", "B", "m"), ("other", "A", "B", "m")]
    final = {"second": "cannot tell at this budget (gap +2.0, ..., Holm-adjusted p 0.120; detectable ...)"}
    lines = markdown(frame, claims, {}, final).splitlines()
    assert "- second: **cannot tell** (3 seed(s)); the curve: interval above 0 from 32 samples on" in lines
    assert "- other: **holds** (3 seed(s)); the curve: interval above 0 from 32 samples on" in lines
    assert not any(w in line for line in lines if line.startswith("- ") for w in ("**holds from", "flips"))
