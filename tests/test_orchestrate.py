"""Manifests end to end at a tiny size: cells train once, completed cells are reused, the table is written."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.load import load_runs
from analysis.tables import latex_table
from experiments.orchestrate import run_manifest

from .conftest import tiny_overrides


def test_manifest_trains_missing_cells_once_and_writes_latex(scenes, tmp_path, capsys):
    overrides = {k: v for k, v in tiny_overrides().items() if k not in ("method", "scale")}
    runs, out = tmp_path / "runs", tmp_path / "reports"
    run_manifest("clip_tiny", seeds=(0,), runs_dir=runs, out_dir=out, overrides=overrides, report_only=True)
    assert len(load_runs(runs)) == 0, "--report-only trains nothing"
    assert "| CLIP, 1000 steps | - |" in (out / "clip_tiny.md").read_text(), "a missing cell shows as missing"
    assert "1 missing (--report-only)" in capsys.readouterr().out
    path = run_manifest("clip_tiny", seeds=(0,), runs_dir=runs, out_dir=out, overrides=overrides)
    tex = path.read_text()
    assert path == out / "tables" / "clip_tiny.tex"
    assert "\\toprule" in tex and "I2T R@1" in tex and "CLIP" in tex
    assert len(load_runs(runs)) == 1
    run_manifest("clip_tiny", seeds=(0,), runs_dir=runs, out_dir=out, overrides=overrides)
    assert len(load_runs(runs)) == 1, "a completed cell is reused, not retrained"
    assert "done" in capsys.readouterr().out
    assert path.read_text() == tex, "regenerating from the same runs is byte-identical"


def test_latex_marks_best_and_missing_cells():
    stats = pd.DataFrame([
        {"row": "A", "metric": "m", "mean": 10.0, "half": 1.0, "n": 2},
        {"row": "B", "metric": "m", "mean": 12.5, "half": 0.0, "n": 1},
        {"row": "C", "metric": "m", "mean": float("nan"), "half": float("nan"), "n": 0},
    ])
    tex = latex_table(stats, {"m": "Metric"}, "cap", "tab:x")
    assert "10.0 $\\pm$ 1.0" in tex and "\\textbf{12.5}" in tex and "C & -" in tex
    assert tex.count("\\midrule") == 1 and "\\bottomrule" in tex


def test_rows_are_selected_by_label_or_by_a_unique_first_word():
    from experiments import config as C
    from experiments import manifests, plan

    m = manifests.load("diagnosis")
    got = {c.row for c in plan.cells(m, "tiny", seeds=(0,), rows=["R3", "R8 CLIP, ruled profile"])}
    assert got == {"R3 COSMOS, student evaluated", "R8 CLIP, ruled profile"}
    with pytest.raises(C.ConfigError, match=r"unknown row '\+'"):  # the first word of several labels
        plan.cells(manifests.load("table5"), "tiny", seeds=(0,), rows=["+"])


def test_rows_of_primary_comparisons_train_the_seeds_their_rule_gives():
    """ROW_SEEDS (registered before the runs) gives a row more seeds than the default; a misspelt row is an error."""
    import types

    from experiments import manifests
    from experiments.plan import cells

    budget = manifests.load("budget")
    per_row = {}
    for c in cells(budget, "tiny"):
        per_row.setdefault(c.row, []).append(c.seed)
    assert per_row["CLIP"] == per_row["COSMOS"] == list(range(8)) and per_row["SLIP"] == [0, 1, 2]
    assert manifests.seeds(budget, "tiny") == (0, 1, 2)  # what a pre-registered decision reads
    bad = types.SimpleNamespace(__doc__="", TITLE="t", ROWS={"A": {}}, COLUMNS={}, SEEDS=(0,), SCALES=("tiny",),
                                PAPER={}, ROW_SEEDS={"B": (0, 1)})
    from experiments.errors import ConfigError

    with pytest.raises(ConfigError, match="ROW_SEEDS names unknown row"):
        manifests.from_module(bad, "bad")
