"""Run archives: a study's finished runs travel without weights, restore on a new machine and rebuild its report."""

from __future__ import annotations

import json

import pytest

from analysis.load import load_runs
from experiments import archive as A
from experiments.layout import curve_points
from experiments.orchestrate import run_manifest

from .conftest import tiny_overrides


@pytest.fixture(scope="module")
def archived(scenes, tmp_path_factory):
    """One budget cell (CLIP, seed 0, 4 steps, evaluated at 2 and 4) trained with --archive and --jobs 2."""
    tmp = tmp_path_factory.mktemp("archive")
    common = {k: v for k, v in tiny_overrides().items() if k not in ("method", "scale")}
    overrides = common | {"train.steps": 4, "train.eval_every": 2, "train.ckpt_every": 2}
    runs, out, store = tmp / "runs", tmp / "reports", tmp / "records"
    run_manifest("budget", seeds=(0,), rows=["CLIP"], runs_dir=runs, out_dir=out, overrides=overrides,
                 archive=store, jobs=2)  # a worker process trains it; the main process archives it when done
    return overrides, runs, out, store


def test_a_completed_cell_is_archived_with_its_curve_and_without_weights(archived):
    _, runs, _, store = archived
    (fp,) = load_runs(runs)["fingerprint"]
    record = store / fp
    assert json.loads((record / "run" / "run.json").read_text())["status"] == "COMPLETED"
    assert (record / "run" / "items.npz").exists() and (record / "run" / "config.json").exists()
    assert sorted(curve_points(record)) == [2, 4], "every evaluation during training travels"
    assert not list(record.rglob("*.pt")), "weights are never archived"
    assert not (record / "run" / "cout.txt").exists()
    assert not list(store.glob(".*")), "no temporary folder left behind"


def test_a_fresh_machine_restores_the_archive_and_rebuilds_the_same_report(archived, tmp_path, capsys):
    overrides, _, out, store = archived
    runs2, out2 = tmp_path / "runs", tmp_path / "reports"
    run_manifest("budget", seeds=(0,), rows=["CLIP"], runs_dir=runs2, out_dir=out2, overrides=overrides,
                 archive=store)  # not report-only: a restored cell is reused, nothing trains
    printed = capsys.readouterr().out
    assert "restored 1 run(s) of this manifest from the archive" in printed
    assert "0 trained now, 1 reused" in printed
    (fp,) = load_runs(runs2)["fingerprint"]
    assert sorted(curve_points(runs2 / "checkpoints" / fp)) == [2, 4]
    assert (out2 / "tables" / "budget.tex").read_text() == (out / "tables" / "budget.tex").read_text()
    assert (out2 / "budget.md").read_text() == (out / "budget.md").read_text(), "the report, curves included"
    assert A.restore(store, runs2) == [], "a fingerprint with a completed run is not restored twice"


def test_a_record_whose_config_does_not_give_its_fingerprint_is_skipped_with_a_warning(archived, tmp_path):
    _, runs, _, store = archived
    (fp,) = load_runs(runs)["fingerprint"]
    bad = tmp_path / "store"
    A.export(runs, [fp], bad)
    cfg = json.loads((bad / fp / "run" / "config.json").read_text())
    cfg["seed"] = 7  # a record edited by hand: its numbers no longer belong to the cell it claims
    (bad / fp / "run" / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match=f"skipping archived run .*{fp}"):
        assert A.restore(bad, tmp_path / "runs") == []
    assert len(load_runs(tmp_path / "runs")) == 0


def test_only_completed_runs_are_archived(archived, tmp_path):
    _, runs, _, _ = archived
    assert A.export(runs, ["0123456789abcdef"], tmp_path / "store") == []
    assert A.restore(tmp_path / "nowhere", runs) == [], "a missing archive restores nothing"
