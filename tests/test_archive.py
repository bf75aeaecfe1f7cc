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


def test_an_export_on_a_full_disk_leaves_no_temporary_folder(archived, tmp_path, monkeypatch):
    import errno

    _, runs, _, _ = archived
    (fp,) = load_runs(runs)["fingerprint"]
    calls = []

    def fill(folder, files):  # the run's files fit, the first curve point meets a full disk
        calls.append(folder)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)

    monkeypatch.setattr(A, "_write", fill)
    with pytest.raises(OSError):
        A.export(runs, [fp], tmp_path / "store")
    assert not list((tmp_path / "store").glob(".*")) and not (tmp_path / "store" / fp).exists()


def test_only_completed_runs_are_archived(archived, tmp_path):
    _, runs, _, _ = archived
    assert A.export(runs, ["0123456789abcdef"], tmp_path / "store") == []
    assert A.restore(tmp_path / "nowhere", runs) == [], "a missing archive restores nothing"


@pytest.fixture
def copy_of(archived, tmp_path):
    """A fresh archive holding the fixture's one record, to damage: (store, fingerprint, record)."""
    _, runs, _, _ = archived
    (fp,) = load_runs(runs)["fingerprint"]
    store = tmp_path / "store"
    A.export(runs, [fp], store)
    return store, fp, store / fp


def _refused(store, tmp_path, match: str) -> None:
    with pytest.warns(UserWarning, match=match):
        assert A.restore(store, tmp_path / "runs") == []
    assert len(load_runs(tmp_path / "runs")) == 0 if (tmp_path / "runs").exists() else True
    assert not [p for p in (tmp_path / "runs").glob("*") if p.name.isdigit()], "nothing was copied"


def test_a_record_with_a_link_is_refused_and_the_link_never_followed(copy_of, tmp_path):
    store, fp, record = copy_of
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the record")
    (record / "run" / "metrics.json").unlink()
    (record / "run" / "metrics.json").symlink_to(secret)
    _refused(store, tmp_path, "metrics.json cannot be opened as a regular file")


def test_a_record_with_a_fifo_a_folder_or_a_linked_curve_is_refused_without_hanging(copy_of, tmp_path):
    import os

    store, fp, record = copy_of
    os.mkfifo(record / "run" / "items.npz.fifo")
    _refused(store, tmp_path, "unexpected run/items.npz.fifo")
    (record / "run" / "items.npz.fifo").unlink()
    (record / "run" / "sub").mkdir()
    _refused(store, tmp_path, "unexpected run/sub")
    (record / "run" / "sub").rmdir()
    (record / "curve" / "step0000002").rename(tmp_path / "moved")
    (record / "curve" / "step0000002").symlink_to(tmp_path / "moved", target_is_directory=True)
    _refused(store, tmp_path, "unexpected curve/step0000002")


def test_a_record_whose_metrics_were_edited_or_whose_info_names_another_cell_is_refused(copy_of, tmp_path):
    store, fp, record = copy_of
    run_json = record / "run" / "run.json"
    good = run_json.read_text()
    edited = json.loads(good)
    edited["result"]["retrieval/scenes/i2t_r1"] += 20.0
    run_json.write_text(json.dumps(edited))
    _refused(store, tmp_path, "run: retrieval/scenes/i2t_r1 = .*, but its items give")
    edited["result"]["retrieval/scenes/i2t_r1"] = float("inf")
    run_json.write_text(json.dumps(edited))
    _refused(store, tmp_path, "non-finite")
    run_json.write_text(good)
    info = json.loads((record / "run" / "info.json").read_text())
    (record / "run" / "info.json").write_text(json.dumps(info | {"fingerprint": "0123456789abcdef"}))
    _refused(store, tmp_path, f"does not give fingerprint {fp}")


def test_a_truncated_items_file_is_refused(copy_of, tmp_path):
    store, fp, record = copy_of
    items = record / "run" / "items.npz"
    items.write_bytes(items.read_bytes()[:200])
    _refused(store, tmp_path, "unreadable items.npz")


def test_a_killed_restore_or_export_never_leaves_a_run_or_loses_a_record(copy_of, tmp_path, monkeypatch):
    import os

    store, fp, record = copy_of
    runs = tmp_path / "runs"
    real = os.replace
    calls = []

    def killed(src, dst):  # the restore dies at its last step: the files are copied, not yet renamed into place
        calls.append(dst)
        if str(src).endswith(f"{fp}-{os.getpid()}"):
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(A.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        A.restore(store, runs)
    monkeypatch.setattr(A.os, "replace", real)
    assert len(load_runs(runs)) == 0, "a half-restored folder never counts as a run"
    assert A.restore(store, runs) == [fp] and len(load_runs(runs)) == 1  # the next call restores it whole
    # an export killed between moving the old record aside and renaming the new one into place

    def killed_export(src, dst):
        if str(src).endswith(".tmp"):
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(A.os, "replace", killed_export)
    with pytest.raises(KeyboardInterrupt):
        A.export(runs, [fp], store)
    monkeypatch.setattr(A.os, "replace", real)
    assert not record.exists() and (store / f".{fp}.old" / "run" / "run.json").exists(), "aside, not deleted"
    assert A.restore(store, tmp_path / "runs2") == [fp], "the next call puts it back and restores it"
    assert (record / "run" / "run.json").exists() and not (store / f".{fp}.old").exists()


def test_a_truncated_record_is_skipped_and_never_copied_again_and_again(copy_of, tmp_path):
    store, fp, record = copy_of
    run_json = record / "run" / "run.json"
    run_json.write_text(run_json.read_text()[:100])
    for _ in range(3):  # every call refuses it: no new run folder each time
        _refused(store, tmp_path, "unreadable run.json")


class _Killed(BaseException):
    """A kill -9 stand-in: not an Exception, so nothing on the way catches it."""


def _boundaries(monkeypatch, kill_at: int | None):
    """Count every file boundary (a file written, a folder renamed) of the archive code; raise _Killed at the
    kill_at-th one, before it happens. Returns the counter (a list holding the count)."""
    import pathlib

    count = [0]
    real_replace, real_write = A.os.replace, pathlib.Path.write_bytes

    def step():
        count[0] += 1
        if kill_at is not None and count[0] == kill_at:
            raise _Killed

    def replace(src, dst):
        step()
        return real_replace(src, dst)

    def write_bytes(self, data):
        step()
        return real_write(self, data)

    monkeypatch.setattr(A.os, "replace", replace)
    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)
    return count


def test_a_kill_at_every_file_boundary_of_restore_or_export_leaves_everything_consistent(copy_of, tmp_path,
                                                                                         monkeypatch):
    import shutil

    store, fp, record = copy_of
    with monkeypatch.context() as m:
        n = _boundaries(m, None)
        A.restore(store, tmp_path / "count-runs")
        restore_steps = n[0]
        A.export(tmp_path / "count-runs", [fp], store)
        export_steps = n[0] - restore_steps
    assert restore_steps > 5 and export_steps > 5
    for k in range(1, restore_steps + 1):
        runs = tmp_path / f"restore-{k}"
        with monkeypatch.context() as m, pytest.raises(_Killed):
            _boundaries(m, k)
            A.restore(store, runs)
        assert len(load_runs(runs)) == 0, f"killed at boundary {k}: a partial run counts"
        assert A.restore(store, runs) == [fp] and len(load_runs(runs)) == 1, k
    source = tmp_path / "count-runs"
    for k in range(1, export_steps + 1):
        archive = tmp_path / f"archive-{k}"
        shutil.copytree(store, archive)
        with monkeypatch.context() as m, pytest.raises(_Killed):
            _boundaries(m, k)
            A.export(source, [fp], archive)
        assert A.restore(archive, tmp_path / f"after-{k}") == [fp], f"killed at export boundary {k}: record lost"
        assert A.export(source, [fp], archive) == [fp] and not list(archive.glob(".*")), k


def test_a_record_is_verified_whole_items_keys_status_and_every_curve_point(copy_of, tmp_path):
    """The four bypasses of a part-verified archive: items.npz deleted, one of its keys deleted, a FAILED run, a
    curve point edited (it would flip a budget claim): each refused by name."""
    import io

    import numpy as np

    store, fp, record = copy_of
    items = record / "run" / "items.npz"
    good = items.read_bytes()
    items.unlink()
    _refused(store, tmp_path, "no run/items.npz")
    with np.load(io.BytesIO(good)) as z:
        kept = {k: z[k] for k in z.files if not k.startswith("retrieval/scenes/")}
    np.savez(items, **kept)
    _refused(store, tmp_path, "items.npz lacks retrieval/scenes/")
    items.write_bytes(good)
    run_json = record / "run" / "run.json"
    ok = run_json.read_text()
    run_json.write_text(json.dumps(json.loads(ok) | {"status": "FAILED"}))
    _refused(store, tmp_path, "its run is 'FAILED', not COMPLETED")
    run_json.write_text(ok)
    point = record / "curve" / "step0000002" / "metrics.json"
    metrics = json.loads(point.read_text())
    point.write_text(json.dumps(metrics | {"retrieval/scenes/i2t_r1": 0.0 if metrics["retrieval/scenes/i2t_r1"]
                                           else 50.0}))
    _refused(store, tmp_path, "curve/step0000002: retrieval/scenes/i2t_r1 = .*, but its items give")
    point.write_text(json.dumps(metrics))
    assert A.restore(store, tmp_path / "runs") == [fp], "the repaired record restores"


def test_a_killed_exports_temporary_folder_is_cleaned_by_the_next_export(copy_of, tmp_path, archived):
    _, runs, _, _ = archived
    store, fp, _ = copy_of
    dead = store / f".{fp}.999999999.tmp"  # no such process
    (dead / "run").mkdir(parents=True)
    import os

    alive = store / f".{fp}.{os.getpid()}.tmp.keep"
    alive.mkdir()
    A.export(runs, [fp], store)
    assert not dead.exists() and alive.exists()


def test_pickled_attention_maps_are_skipped_not_loaded(tmp_path):
    """A maps file holding a pickled object array is never unpickled: the report skips its figure with a warning."""
    import numpy as np
    import pandas as pd

    from analysis.make import _maps

    (tmp_path / "1").mkdir()
    with open(tmp_path / "1" / "attention_maps.npz", "wb") as f:
        np.savez(f, images=np.array([{"a": 1}], dtype=object))  # stored as a pickle
    with pytest.warns(UserWarning, match="skipping the unreadable attention maps of run 1"):
        assert _maps(tmp_path, pd.DataFrame({"run_id": ["1"], "row": ["CLIP"]})) == {}
