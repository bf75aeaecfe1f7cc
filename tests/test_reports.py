"""Tables and reports from logged runs: a golden LaTeX file, byte-identical regeneration, claim checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.report import check_claim
from experiments import manifests
from analysis.make import write_outputs as write_table
from experiments.plan import cells

GOLDEN = Path(__file__).parent / "golden"


def _fake_runs(runs_dir: Path, todo, skip_row: str | None = None) -> None:
    """Sacred-style run folders with known metrics: row i scores 10*(i+1) + seed on every column."""
    rows = list(dict.fromkeys(c.row for c in todo))
    for n, cell in enumerate(todo, 1):
        if cell.row == skip_row:
            continue
        d = runs_dir / str(n)
        d.mkdir(parents=True)
        value = 10.0 * (rows.index(cell.row) + 1) + cell.seed
        metrics = {k: value for k in manifests.columns(manifests.load("table3"), "tiny")}
        (d / "run.json").write_text(json.dumps({"status": "COMPLETED", "result": metrics}))
        (d / "config.json").write_text(json.dumps(cell.config.to_dict()))
        (d / "info.json").write_text(json.dumps({"fingerprint": cell.fingerprint, "data": "scenes-64px-test",
                                                "wall_time_s": 30.0}))
        (d / "metrics.json").write_text(json.dumps({"train/loss": {"steps": [1, 2], "values": [2.0, 1.0 + n]}}))


def test_table3_latex_matches_the_golden_file_and_regenerates_identically(tmp_path):
    manifest = manifests.load("table3")
    todo = cells(manifest, "tiny", seeds=(0, 1))
    _fake_runs(tmp_path / "runs", todo, skip_row="SiLC")
    path = write_table("table3", manifest, todo, tmp_path / "runs", tmp_path / "out")
    tex = path.read_text()
    assert tex == (GOLDEN / "table3.tex").read_text()
    write_table("table3", manifest, todo, tmp_path / "runs", tmp_path / "out")
    assert path.read_text() == tex
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0].strip().splitlines()
    header = tex.split("\\toprule")[1].split("\\midrule")[0].strip().splitlines()
    assert len(header) == 1 and header[0].startswith("Method &")
    n_cols = tex.split("\\begin{tabular}{")[1].split("}")[0]
    assert all(line.count(" & ") == len(n_cols) - 1 and line.endswith("\\\\") for line in header + body)
    assert tex.count("\\begin{") == tex.count("\\end{") == 2
    assert "SiLC & - &" in tex and "86.6 [U]" in tex and "DreamLIP & " in tex
    report = (tmp_path / "out" / "table3.md").read_text()
    assert "**Scale**: `tiny`" in report and "scenes-64px-test" in report and "[U] unverified summary" in report
    # fake runs: COSMOS (4th row) scores 40 + seed, CLIP 10 + seed: the paired gap is exactly 30 on both seeds
    assert "COSMOS beats CLIP on compositional understanding (SugarCrepe avg): **holds (gap +30.0, 95% interval " \
           "[+30.0, +30.0] over 2 seed(s), seeds only (no per-item records), p < 0.001)**" in report
    assert "COSMOS beats SiLC on compositional understanding: **not measured**" in report
    assert (tmp_path / "out" / "figures" / "table3-curves.png").stat().st_size > 1000


def _cells(a: list[float], b: list[float]):
    from analysis.cells import Cells

    runs = pd.DataFrame([{"row": row, "seed": s, "run_id": f"{row}{s}"} for row, vals in (("A", a), ("B", b))
                         for s in range(len(vals))])
    results = {f"{row}{s}": {"m": v} for row, vals in (("A", a), ("B", b)) for s, v in enumerate(vals)}
    return Cells(runs, results)


@pytest.mark.parametrize("a, b, verdict", [
    ([12.0, 12.2, 11.9], [10.0, 10.1, 9.8], "holds"),
    ([9.0, 9.1, 8.8], [10.0, 10.1, 9.8], "does not hold"),
    ([10.4, 9.5, 11.0], [10.0, 10.3, 9.9], "cannot tell at this budget ("),
    ([12.0], [10.0], "cannot tell at this budget: one seed"),
    ([], [], "not measured"),
])
def test_claims_are_judged_on_the_paired_interval(a, b, verdict):
    assert check_claim(_cells(a, b), "A", "B", "m").startswith(verdict)


def test_every_manifest_resolves_at_every_scale_it_declares():
    for name in manifests.names():
        m = manifests.load(name)
        for scale in m.SCALES:
            if scale == "paper":
                continue  # paper cells need real shard paths; their configs are checked by the dry run test
            assert cells(m, scale), (name, scale)


def test_paper_rows_of_released_checkpoints_come_from_the_environment(tmp_path, monkeypatch):
    from experiments.errors import ConfigError

    manifest = manifests.load("table2")
    with pytest.raises(ConfigError, match="OPENCLIP_400M"):
        cells(manifest, "paper")
    for i, var in enumerate(("OPENCLIP_400M", "OPENCLIP_1B", "OPENCLIP_2B", "COSMOS_30M")):
        (tmp_path / f"{i}.bin").write_bytes(bytes([i]))
        monkeypatch.setenv(var, str(tmp_path / f"{i}.bin"))
    todo = cells(manifest, "paper")
    assert [c.row for c in todo] == list(manifest.ROWS_BY_SCALE["paper"])
    assert todo[3].config.checkpoint_weights == "teacher" and len({c.fingerprint for c in todo}) == 4
    assert [c.row for c in cells(manifest, "tiny", seeds=(0,))] == ["CLIP (ours)", "COSMOS (ours)"]


def test_claims_follow_the_scale():
    from experiments import manifests

    t1 = manifests.load("table1")
    tiny, paper = manifests.claims(t1, "tiny"), manifests.claims(t1, "paper")
    assert [c[3] for c in tiny if c[2] == "CLIP"] == list(t1.COLUMNS)
    assert "retrieval/coco/i2t_r1" in [c[3] for c in paper] and all("/scenes/" not in c[3] for c in paper)
    t4 = manifests.load("table4")
    assert {c[1] for c in manifests.claims(t4, "paper")} == {"COSMOS 30M"}
    for name in manifests.names():  # every claim names rows of its scale and a metric the table shows
        m = manifests.load(name)
        for scale in m.SCALES:
            rows, cols = manifests.rows(m, scale), manifests.columns(m, scale)
            for text, better, worse, key in manifests.claims(m, scale):
                assert better in rows and worse in rows and key in cols, (name, scale, text)


def test_a_pre_registered_decision_and_the_caveats_are_written_into_the_report(tmp_path):
    """The diagnosis manifest's DECISION applied to logged rows (known numbers: V1), and CAVEATS as a section."""
    import dataclasses

    manifest = dataclasses.replace(manifests.load("diagnosis"), CAVEATS={"v4": ("a caveat, printed as it is",)})
    todo = cells(manifest, "tiny", seeds=(0, 1, 2))
    i2t = {"R1": 20.0, "R0": 8.0, "R2": 10.0, "R5": 16.0}
    for n, cell in enumerate(todo, 1):
        d = tmp_path / "runs" / str(n)
        d.mkdir(parents=True)
        value = i2t.get(cell.row.split()[0], 8.0) + 0.1 * cell.seed
        metrics = {k: value for k in manifest.COLUMNS}
        (d / "run.json").write_text(json.dumps({"status": "COMPLETED", "result": metrics}))
        (d / "config.json").write_text(json.dumps(cell.config.to_dict()))
        (d / "info.json").write_text(json.dumps({"fingerprint": cell.fingerprint, "data": "scenes", "wall_time_s": 1}))
        (d / "metrics.json").write_text(json.dumps({"train/loss": {"steps": [1], "values": [1.0]}}))
    write_table("diagnosis", manifest, todo, tmp_path / "runs", tmp_path / "out")
    report = (tmp_path / "out" / "diagnosis.md").read_text()
    assert "## Decision by the pre-registered rule" in report
    assert "A (mean R2 <= 12.0): met (R2 = 10.1)" in report and "**V1: an augmentation x benchmark artefact**" in report
    assert "## What these numbers do not show\n\n- a caveat, printed as it is" in report
    assert "Provisional" not in report
    import shutil

    shutil.rmtree(tmp_path / "runs" / str(len(todo)))  # the last row (R8, outside the rule) lacks a seed
    write_table("diagnosis", manifest, todo, tmp_path / "runs", tmp_path / "out")
    assert "Provisional" not in (tmp_path / "out" / "diagnosis.md").read_text()
    r6 = next(i for i, c in enumerate(todo) if c.row.startswith("R6") and c.seed == 2)
    shutil.rmtree(tmp_path / "runs" / str(r6 + 1))  # a row the rule reads lacks a seed
    write_table("diagnosis", manifest, todo, tmp_path / "runs", tmp_path / "out")
    report = (tmp_path / "out" / "diagnosis.md").read_text()
    assert "**Provisional, not the verdict**: some rows lack seeds (R6 COSMOS, whole captions: 2 of 3)" in report


def test_damaged_runs_are_excluded_and_named_never_best_and_truncated_files_are_not_fatal(tmp_path):
    manifest = manifests.load("table3")
    todo = cells(manifest, "tiny", seeds=(0, 1))
    runs = tmp_path / "runs"
    _fake_runs(runs, todo)
    damaged = runs / "1"  # CLIP seed 0: an inf metric in a COMPLETED record
    record = json.loads((damaged / "run.json").read_text())
    record["result"]["compositional/scenes/mean"] = float("inf")
    (damaged / "run.json").write_text(json.dumps(record))
    (runs / "2" / "metrics.json").write_text('{"train/loss": {"steps": [1, 2], "val')  # cut off
    (runs / "3" / "items.npz").write_bytes(b"PK\x03\x04 cut off")
    with pytest.warns(UserWarning):
        write_table("table3", manifest, todo, runs, tmp_path / "out")
    report = (tmp_path / "out" / "table3.md").read_text()
    assert "**Excluded as damaged**: run 1 (non-finite or implausible compositional/scenes/mean)" in report
    assert "inf" not in (tmp_path / "out" / "tables" / "table3.tex").read_text()


def test_every_primary_claim_is_one_of_its_manifests_claims():
    for name in manifests.names():
        m = manifests.load(name)
        texts = {c[0] for scale in m.SCALES for c in manifests.claims(m, scale)}
        assert set(m.PRIMARY) <= texts, (name, set(m.PRIMARY) - texts)


def test_secondary_claims_are_judged_on_holm_adjusted_p_and_the_primary_on_its_interval():
    from analysis.report import claims_section, judge_claims
    from analysis.statistics import holm

    cells_ = _cells([12.0, 11.3, 12.7], [10.0, 10.0, 10.0])  # gaps 2.0, 1.3, 2.7: p about 0.04
    claims = [("primary", "A", "B", "m"), ("second", "A", "B", "m"), ("third", "A", "B", "m")]
    judged = judge_claims(cells_, claims, primary=("primary",))
    gap = cells_.paired("A", "B", "m")
    assert 0.025 < gap.p < 0.05 and judged[0][:2] == ("primary", True)
    assert judged[0][2].startswith("holds") and "Holm" not in judged[0][2]
    adjusted = holm([gap.p, gap.p])[0]  # two secondary claims: p x 2 > 0.05
    assert adjusted == pytest.approx(2 * gap.p)
    assert all(v.startswith("cannot tell") and f"Holm-adjusted p {adjusted:.3f}" in v for _, _, v in judged[1:])
    text = "\n".join(claims_section(cells_, claims, primary=("primary",)))
    assert "Primary (the manifest's PRIMARY" in text and "Holm-adjusted across these 2" in text
    assert "interim" not in text and all("detectable with 80% power" in v for _, _, v in judged[1:])
    pending = claims + [("unmeasured", "A", "C", "m")]  # row C has no runs yet: it counts in the family as p = 1
    judged = judge_claims(cells_, pending, primary=("primary",))
    assert judged[3][2] == "not measured" and f"Holm-adjusted p {3 * gap.p:.3f}" in judged[1][2]
    text = "\n".join(claims_section(cells_, pending, primary=("primary",)))
    assert "across these 3" in text and "interim: 1 of them not measured" in text
    alone = judge_claims(cells_, claims[1:2])  # one secondary claim: Holm leaves p as it is
    assert alone[0][2].startswith("holds")


def test_a_report_prints_the_caveats_measured_on_its_benchmark_only():
    import pandas as pd

    from analysis import report
    from experiments import manifests

    m = manifests.load("table3")
    stats = pd.DataFrame(columns=["row", "metric", "mean", "half", "n"])
    args = ("table3", m, "tiny", "data", "abc", pd.DataFrame(), stats, {}, [], [])
    v4, v5 = report.render(*args, benchmark="v4"), report.render(*args, benchmark="v5")
    assert m.CAVEATS["v4"][0] in v4 and m.CAVEATS["v4"][0] not in v5
    assert m.CAVEATS["v5"][0] in v5 and m.CAVEATS["v5"][0] not in v4
    import dataclasses

    only_v4 = dataclasses.replace(m, CAVEATS={"v4": m.CAVEATS["v4"]})
    v5 = report.render("table3", only_v4, *args[2:], benchmark="v5")
    assert m.CAVEATS["v4"][0] not in v5 and "measured on benchmark v4 and are not repeated for v5" in v5


def test_a_report_states_its_seed_rule_where_the_manifest_has_one():
    import pandas as pd

    from analysis import report
    from experiments import manifests

    stats = pd.DataFrame(columns=["row", "metric", "mean", "half", "n"])
    args = ("tiny", "data", "abc", pd.DataFrame(), stats, {}, [], [])
    budget = report.render("budget", manifests.load("budget"), *args)
    assert "- **Seeds**: CLIP 8, COSMOS 8 (the rows of its primary comparisons" in budget
    assert "every other row 3." in budget
    assert "**Seeds**" not in report.render("table3", manifests.load("table3"), *args)


def test_the_report_names_the_numeric_environment_and_a_mixed_one_run_by_run(tmp_path):
    """A table regenerates to the digit only in the numeric environment its runs were made in (torch, CPU kernels,
    threads: experiments/experiment.py numeric_environment); the report says which, and names the runs of each
    when a table mixes them (how a committed SLIP row made at another thread count stopped reproducing)."""
    from analysis.load import environment, load_runs
    from analysis.make import cell_runs
    from analysis.report import _environment_line

    todo = cells(manifests.load("table3"), "tiny", seeds=(0, 1), rows=["SLIP"])
    _fake_runs(tmp_path, todo)
    for n, threads in ((1, 2), (2, 1)):
        info = json.loads((tmp_path / str(n) / "info.json").read_text())
        info["environment"] = {"torch": "2.14.1", "threads": threads, "cpu_capability": "AVX512"}
        (tmp_path / str(n) / "info.json").write_text(json.dumps(info))
    runs = cell_runs(load_runs(tmp_path), todo)
    [line] = _environment_line(runs)
    assert line == ("- **Numeric environment: mixed**: torch 2.14.1, AVX512, 1 thread (SLIP seed 1); torch 2.14.1, "
                    "AVX512, 2 threads (SLIP seed 0). A rerun in one environment changes the others' rows in their "
                    "last digits.")
    assert environment({"torch": "2.14.1", "threads": 1, "cpu_capability": "AVX512"}, "AMD EPYC") == \
        "torch 2.14.1, AMD EPYC, AVX512, 1 thread", "the CPU model sacred records in run.json's host"
    pickled = {"py/object": "torch.torch_version.TorchVersion", "py/newargs": {"py/tuple": ["2.14.1+cu130"]},
               "upper": {"py/function": "torch.torch_version.TorchVersion.upper"}}  # sacred's form of older records
    assert environment({"torch": pickled, "threads": 1, "cpu_capability": "AVX512"}) == "torch 2.14.1+cu130, AVX512, " \
        "1 thread"
    both = runs.assign(environment=["A", "A"], seed=[0, 1])
    assert _environment_line(both)[0].startswith("- **Numeric environment**: A (every run")
    three = pd.concat([runs, runs.iloc[:1].assign(seed=2)]).assign(environment=["A", "B", "A"])
    assert "A (SLIP seeds 0, 2); B (SLIP seed 1)" in _environment_line(three)[0]
    same = runs.assign(environment=environment({"torch": "2.14.1", "threads": 2, "cpu_capability": "AVX2"}))
    assert _environment_line(same) == ["- **Numeric environment**: torch 2.14.1, AVX2, 2 threads (every run; a "
                                       "rerun reproduces these numbers to the digit in this environment only)."]
    assert _environment_line(runs.assign(environment=None)) == [], "records from before it was kept say nothing"


def test_tiny_reports_print_the_chance_level_of_each_column(tmp_path):
    """A tiny report reads its numbers against what guessing scores (1,000 test images, 3 captions each, 16
    categories, a hard negative, an MMVP-style pair), not against 0."""
    from math import comb

    from methods.evals import chance_levels, chance_of

    levels = chance_levels("tiny-v5")
    assert levels["retrieval/scenes/t2i_r1"] == pytest.approx(0.1)
    assert levels["retrieval/scenes/i2t_r5"] == pytest.approx(100 * (1 - comb(2997, 5) / comb(3000, 5)))
    assert levels["classification/scenes/top1"] == pytest.approx(6.25)
    assert chance_of(levels, "compositional/scenes/swap_att") == 50 and chance_of(levels, "perception/scenes/mean") == 25
    assert chance_of(levels, "segmentation/scenes/miou") is None
    from experiments.run import main

    assert main(["table1", "--report-only", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path)]) == 0
    line = next(x for x in (tmp_path / "table1.md").read_text().splitlines() if x.startswith("- **Chance levels**"))
    assert "I2T R@1 0.1" in line and "Top-1 6.25" in line


def test_caveats_are_filled_from_the_records_they_describe(tmp_path):
    """A caveat's numbers are placeholders filled from the study's runs: means, ranges and seed counts of final
    metrics, shares of a logged curve; a row without runs says so instead of a number."""
    from analysis.caveats import MISSING, fill

    runs = pd.DataFrame({"row": ["CLIP", "CLIP", "SiLC"], "seed": [0, 1, 0], "run_id": ["1", "2", "3"]})
    results = pd.DataFrame({"run_id": ["1", "2", "3"], "m/x/top1": [10.0, 12.0, 5.0]})
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "metrics.json").write_text(json.dumps(
        {"train/ent": {"steps": [100, 500, 600, 700, 800], "values": [3.0, 0.5, 3.0, 7.0, 4.0]}}))
    text = ("CLIP {mean:CLIP:m/x/top1} ({seeds:CLIP} seeds, {range:CLIP:m/x/top1}); SiLC between at "
            "{share:SiLC:train/ent:1:6.5:500}; SLIP {mean:SLIP:m/x/top1}")
    assert fill(text, runs, results, tmp_path) == ("CLIP 11.0 (2 seeds, 10.0-12.0); SiLC between at 50% of steps for "
                                                   f"seed 0; SLIP {MISSING}")
    from experiments.manifests import _shared

    for name in ("V5_MMVP", "V5_TOP1", "V5_BINDING", "V5_SILC_HEAD"):  # no typed seed subsets left
        assert "seeds 0-" not in getattr(_shared, name) and "{" in getattr(_shared, name), name
