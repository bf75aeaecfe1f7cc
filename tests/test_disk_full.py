"""A full disk (and a path that cannot take a write) where the docs promise one line and whole files: run records
say FAILED, report outputs and archive records are replaced only when complete, nothing half-written is left
(issue 46). ENOSPC is simulated by patching the write that meets it; the tmpfs runs are in the closing note."""

from __future__ import annotations

import errno
import gc
import json

import numpy as np
import pytest

from experiments.run import main


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_run_record_on_a_full_disk_is_rewritten_in_place_and_says_failed(tmp_path, monkeypatch):
    from experiments import records

    obs = records.AtomicFileStorageObserver(str(tmp_path))
    obs.dir = str(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"status": "RUNNING", "captured_out": "x" * 500}, indent=2))
    monkeypatch.setattr(records, "write_json_atomic", _enospc)
    obs.save_json({"status": "FAILED", "fail_trace": ["Traceback ..."] * 3, "captured_out": "x" * 500}, "run.json")
    assert json.loads((tmp_path / "run.json").read_text()) == {"status": "FAILED"}


def test_report_outputs_stay_whole_when_the_disk_fills_midway(tmp_path, monkeypatch):
    from analysis import figures

    from .test_reports import _fake_runs, cells, manifests, write_table

    manifest = manifests.load("table3")
    todo = cells(manifest, "tiny", seeds=(0,))
    _fake_runs(tmp_path / "runs", todo)
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "table3.tex").write_text("the previous table")
    monkeypatch.setattr(figures, "plot_bars", _enospc)
    with pytest.raises(OSError):
        write_table("table3", manifest, todo, tmp_path / "runs", out)
    assert (out / "tables" / "table3.tex").read_text() == "the previous table"
    assert not (out / "table3.md").exists() and not list(out.glob(".staging-*"))
    monkeypatch.undo()
    (out / ".staging-table3-999999999").mkdir()  # a killed call's: removed by the next
    write_table("table3", manifest, todo, tmp_path / "runs", out)
    assert (out / "table3.md").exists() and not list(out.glob(".staging-*"))
    assert (out / "tables" / "table3.tex").read_text() != "the previous table"


def test_a_benchmark_shard_cut_by_a_full_disk_prints_nothing_at_exit(tmp_path, capfd):
    from methods.data.scenes.generate import _write

    def samples():
        yield {"__key__": "a", "txt": b"x" * 20000}
        _enospc()

    with pytest.raises(OSError):
        _write(tmp_path / "shard.tar", samples())
    gc.collect()
    assert "Exception ignored" not in capfd.readouterr().err and not list(tmp_path.iterdir())


def test_a_checkpoint_cut_by_a_full_disk_leaves_no_temporary_file(tmp_path, monkeypatch):
    import torch

    from methods import checkpoint
    from methods.errors import CheckpointError

    def half(obj, f):
        f.write(b"x" * 1000)
        _enospc()

    monkeypatch.setattr(torch, "save", half)
    with pytest.raises(CheckpointError, match="disk full or not writable"):
        checkpoint.save_atomic({"w": np.zeros(3)}, tmp_path / "last.pt")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["data folder", "prepare output", "locks"])
def test_a_file_where_a_folder_belongs_is_one_line(tmp_path, monkeypatch, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    if where == "data folder":
        monkeypatch.setenv("SUITE_DATA", str(blocker))
        argv = ["data", "scenes", "--scale", "test"]
    elif where == "prepare output":
        from PIL import Image

        (tmp_path / "in").mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.jpg")
        (tmp_path / "c.csv").write_text("image,caption\na.jpg,a cat\n")
        argv = ["prepare", "folder", str(tmp_path / "in"), str(blocker), "--captions", str(tmp_path / "c.csv")]
    else:
        (tmp_path / "runs").mkdir()
        (tmp_path / "runs" / "locks").write_text("a file")
        argv = ["clip_tiny", "--runs-dir", str(tmp_path / "runs"), "--seeds", "0"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write") and "File exists" in err[0]
