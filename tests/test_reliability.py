"""Hostile-user defects, one test each: refused inputs before any work, cut-off records, concurrent use, one-line
errors, honest run states (checkpoints under failure: tests/test_checkpoints.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import webdataset as wds

from experiments import config as C
from experiments.run import main
from methods.errors import DataError

from .conftest import ROOT, tiny_overrides


def _train_args(**extra) -> list[str]:
    base = {"encoder": "ViT-Micro-8-32", "data.scenes": "test", "data.workers": "0", "train.batch_size": "8",
            "train.steps": "2", "train.warmup": "1"}
    return ["train", *(f"{k}={v}" for k, v in (base | extra).items())]


@pytest.mark.parametrize("extra, message", [
    ({"train.steps": "0"}, "train.steps=0 must be > 0"),
    ({"train.batch_size": "0"}, "train.batch_size=0 must be > 0"),
    ({"train.batch_size": "-4"}, "train.batch_size=-4 must be > 0"),
    ({"train.ckpt_every": "0"}, "train.ckpt_every=0 must be > 0"),
    ({"train.log_every": "0"}, "train.log_every=0 must be > 0"),
    ({"train.lr": "-1"}, "train.lr=-1.0 must be > 0"),
    ({"train.lr": "nan"}, "train.lr=nan must be a finite number"),
    ({"train.warmup": "-3"}, "train.warmup=-3 must be >= 0"),
    ({"data.workers": "-1"}, "data.workers=-1 must be >= 0"),
    ({"data.shuffle_buffer": "-1"}, "data.shuffle_buffer=-1 must be >= 0"),
    ({"eval.batch_size": "0"}, "eval.batch_size=0 must be >= 1"),
    ({"train.batch_size": "100000"}, "train.batch_size=100000 must be <= 65536"),
    ({"data.shuffle_buffer": "1000000000000"}, "data.shuffle_buffer=1000000000000 must be <= 1000000"),
    ({"seed": "-1"}, "seed=-1 must lie in [0, 2**32)"),
    ({"train.steps": "100000000000000000000"}, "train.steps=100000000000000000000 must be <= 100000000"),
    ({"seed": "1e23"}, "config key 'seed' expects int, got '1e23'"),
    ({"train.precision": "fp8"}, "train: unknown precision 'fp8'"),
    ({"data.dataset": "shards", "data.shards": "/nonexistent"}, "no shard of data.shards='/nonexistent' exists"),
    ({"data.dataset": "shards", "data.shards": "/nonexistent/{000..003}.tar"}, "no shard of data.shards="),
    ({"eval.sets": "retrieval/coco", "eval.coco_images": "/nonexistent", "eval.coco_captions": "/x.json"},
     "eval.paths.coco_images='/nonexistent' does not exist (needed by retrieval/coco)"),
    ({"eval.sets": "classification/imagenet"}, "classification/imagenet needs eval.paths.imagenet_dir=<path>"),
])
def test_bad_values_and_paths_exit_2_with_one_line_before_any_work(extra, message, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setenv("SUITE_DATA", str(data))
    assert main(_train_args(**extra) + ["--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not data.exists(), "no benchmark was generated"
    assert not (tmp_path / "runs").exists() or not any(p.name.isdigit() for p in (tmp_path / "runs").iterdir())


def test_a_shard_set_with_holes_names_the_missing_shards_and_an_empty_folder_is_refused(tmp_path, capsys):
    for i in (0, 1):
        (tmp_path / f"{i:03d}.tar").write_bytes(b"")
    pattern = str(tmp_path / "{000..003}.tar")
    assert main(_train_args(**{"data.dataset": "shards", "data.shards": pattern}) +
                ["--runs-dir", str(tmp_path / "runs")]) == 2
    assert f"2 of 4 shards of data.shards={pattern!r} do not exist (first: {tmp_path / '002.tar'}" in \
        capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(_train_args(**{"data.dataset": "shards", "data.shards": str(tmp_path / "empty")}) +
                ["--runs-dir", str(tmp_path / "runs")]) == 2
    assert "is a folder without .tar shards" in capsys.readouterr().err
    from methods.data.stream import expand_shards  # '::' joins the ranges one has

    assert expand_shards(str(tmp_path / "{000..000}.tar") + "::" + str(tmp_path / "001.tar")) == \
        [str(tmp_path / "000.tar"), str(tmp_path / "001.tar")]


def test_bad_seeds_and_an_unwritable_runs_dir_are_one_line(tmp_path, capsys):
    assert main(["clip_tiny", "--seeds", "a", "--runs-dir", str(tmp_path)]) == 2
    assert "--seeds expects comma-separated integers, got 'a'" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(_train_args() + ["--runs-dir", str(tmp_path / "file" / "runs")]) == 2
    err = capsys.readouterr().err
    assert "is not a writable folder" in err and err.count("\n") == 1


def test_two_first_uses_of_the_benchmark_generate_it_once_and_both_succeed(tmp_path):
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from methods.data.scenes import ensure_scenes, preset\n"
            "print(ensure_scenes(preset('test'), progress=False))\n")
    env = os.environ | {"SUITE_DATA": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e.decode()[-500:] for _, e in outs]
    folder = outs[0][0].decode().strip()
    assert outs[1][0].decode().strip() == folder and os.path.exists(os.path.join(folder, "meta.json"))
    assert not [p for p in os.listdir(os.path.join(folder, "train")) if p.endswith(".tmp")]


def test_unreadable_run_records_are_skipped_and_named(scenes, tmp_path, capsys):
    from analysis.load import load_runs

    cfg = C.resolve(tiny_overrides(**{"train.steps": 2}))
    from experiments.experiment import run_training

    run_training(cfg, tmp_path)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "run.json").write_text('{"status": "COMPLETED", "result": {"a": 1')  # cut off at a full disk
    with pytest.warns(UserWarning, match=r"skipping unreadable run record .*2/run.json"):
        df = load_runs(tmp_path)
    assert list(df["run_id"]) == ["1"]
    with pytest.warns(UserWarning):
        assert main(["clip_tiny", "--dry-run", "--runs-dir", str(tmp_path)]) == 0


def test_records_are_written_atomically(tmp_path, monkeypatch):
    from experiments import records

    path = tmp_path / "run.json"
    records.write_json_atomic({"status": "RUNNING"}, path)

    def broken_dump(obj, f, **kw):
        f.write('{"status": "COMPL')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.json, "dump", broken_dump)
    with pytest.raises(OSError):
        records.write_json_atomic({"status": "COMPLETED"}, path)
    assert json.loads(path.read_text()) == {"status": "RUNNING"} and os.listdir(tmp_path) == ["run.json"]


def _shard(path, samples):
    with wds.TarWriter(str(path)) as w:
        for s in samples:
            w.write(s)


def test_a_stream_of_only_corrupt_samples_or_garbage_shards_stops_with_one_line(tmp_path):
    from methods.data.stream import ShardStream
    from methods.data.views import ImageView, TextView
    from methods.encoders import build_encoders

    tok = build_encoders("ViT-Micro-8-32").tokenizer()
    views = {"image": ImageView(32, (0.9, 1.0)), "text": TextView("random")}
    _shard(tmp_path / "bad.tar", [{"__key__": f"b{i}", "jpg": b"not a jpeg",
                                   "json": json.dumps({"raw_caption": ["x"]}).encode()} for i in range(10)])
    with pytest.raises(DataError, match="consecutive samples or shards of 1 shard"):
        next(iter(ShardStream([str(tmp_path / "bad.tar")], views, tok, 2, shuffle_buffer=0)))
    (tmp_path / "noise.tar").write_bytes(os.urandom(10_000))
    with pytest.raises(DataError, match="failed to read"):
        next(iter(ShardStream([str(tmp_path / "noise.tar")], views, tok, 2, shuffle_buffer=0)))


def test_a_truncated_shard_is_counted_as_a_read_error(tmp_path):
    import io
    import itertools

    from PIL import Image

    from methods.data.stream import ShardStream
    from methods.data.views import ImageView, TextView
    from methods.encoders import build_encoders

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, format="JPEG")
    good = {"jpg": buf.getvalue(), "json": json.dumps({"raw_caption": ["a red square"]}).encode()}
    _shard(tmp_path / "a.tar", [{"__key__": f"a{i}", **good} for i in range(8)])
    data = (tmp_path / "a.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[:len(data) // 2 + 100])  # cut inside a member
    tok = build_encoders("ViT-Micro-8-32").tokenizer()
    views = {"image": ImageView(32, (0.9, 1.0)), "text": TextView("random")}
    stream = ShardStream([str(tmp_path / "cut.tar")], views, tok, 2, shuffle_buffer=0)
    batches = list(itertools.islice(iter(stream), 4))
    assert sum(meta.tar_errors for _, meta in batches) >= 1


def test_prepare_skips_non_utf8_csv_rows_and_counts_them(tmp_path):
    from PIL import Image

    from methods.data.prepare import prepare

    (tmp_path / "img").mkdir()
    for i in range(3):
        Image.new("RGB", (16, 16), (i * 60, 0, 0)).save(tmp_path / "img" / f"{i}.jpg")
    (tmp_path / "c.csv").write_bytes(b"image,caption\n0.jpg,a red square\n1.jpg,caf\xe9 \xff\n2.jpg,a dark square\n")
    stats = prepare("folder", tmp_path / "img", tmp_path / "out", tmp_path / "c.csv")
    assert stats["written"] == 2 and stats["skipped"] == 1
    assert main(["prepare", "folder", str(tmp_path / "img"), str(tmp_path / "out2"), "--captions",
                 str(tmp_path / "c.csv"), "--image-col", "file"]) == 2


def test_a_killed_runs_record_becomes_interrupted_when_a_rerun_resumes_it(scenes, tmp_path):
    from analysis.load import load_runs
    from experiments.experiment import run_training

    cfg = C.resolve(tiny_overrides(**{"train.steps": 2}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "run.json").write_text(json.dumps(
        {"status": "RUNNING", "host": {"hostname": socket.gethostname()}, "heartbeat": "2026-01-01T00:00:00"}))
    (tmp_path / "1" / "info.json").write_text(json.dumps({"fingerprint": C.fingerprint(cfg), "pid": dead.pid}))
    (tmp_path / "1" / "config.json").write_text(json.dumps(cfg.to_dict()))
    run = run_training(cfg, tmp_path)
    record = json.loads((tmp_path / "1" / "run.json").read_text())
    assert record["status"] == "INTERRUPTED" and record["resumed_by"] == str(run._id)
    assert run.info["resumes_runs"] == ["1"]
    assert list(load_runs(tmp_path, status=None)["status"]) == ["INTERRUPTED", "COMPLETED"]


def test_a_live_or_recent_running_record_is_left_alone():
    import datetime as dt

    from experiments.records import is_stale

    here = {"status": "RUNNING", "host": {"hostname": socket.gethostname()}}
    assert not is_stale(here, {"pid": os.getpid()})
    now = dt.datetime(2026, 1, 1, 12, 0, 0)
    other = {"status": "RUNNING", "host": {"hostname": "elsewhere"}, "heartbeat": "2026-01-01T11:59:00"}
    assert not is_stale(other, {}, now) and is_stale(other | {"heartbeat": "2026-01-01T11:00:00"}, {}, now)


_TRAIN_ALL = """
import hashlib, sys
sys.path.insert(0, {root!r})
import torch
from experiments import config as C
from methods import METHODS
from tests.conftest import tiny_overrides
from tests.test_train import _run
for name in METHODS:
    m, metrics = _run(C.resolve(tiny_overrides(name, **{{"train.steps": 4}})), {out!r} + "/" + name)
    h = hashlib.sha256(b"".join(v.detach().numpy().tobytes() for v in m.state_dict().values())).hexdigest()
    print(name, h, sorted(metrics.items()))
"""


def test_every_method_trains_to_identical_weights_and_metrics_in_two_processes(scenes, tmp_path):
    """Two fresh processes with different hash seeds (set / dict order) train every method to the same bits."""
    procs = [subprocess.Popen([sys.executable, "-c", _TRAIN_ALL.format(root=str(ROOT), out=str(tmp_path / str(i)))],
                              env=os.environ | {"PYTHONHASHSEED": str(i)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=ROOT) for i in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e.decode()[-800:] for _, e in outs]
    from methods import METHODS

    first, second = (o.decode().strip().splitlines()[-len(METHODS):] for o, _ in outs)
    assert [line.split()[0] for line in first] == list(METHODS)
    assert first == second


def test_training_on_only_corrupt_samples_or_too_few_shards_is_one_line(tmp_path, capsys):
    _shard(tmp_path / "bad-000000.tar", [{"__key__": f"b{i}", "jpg": b"not a jpeg", "txt": b"a caption"}
                                         for i in range(10)])
    args = _train_args(**{"data.dataset": "shards", "data.shards": str(tmp_path), "eval.sets": ""})
    assert main(args + ["--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: 1000 consecutive samples or shards of 1 shard(s) failed to read")
    assert "Traceback" not in "\n".join(err) and not any("skipping corrupt sample" in line for line in err)
    two_workers = _train_args(**{"data.dataset": "shards", "data.shards": str(tmp_path), "data.workers": "2"})
    assert main(two_workers + ["--runs-dir", str(tmp_path / "runs2")]) == 2
    assert "1 shard(s) cannot feed 2 readers" in capsys.readouterr().err


def test_a_shard_named_like_a_pipe_is_read_as_a_file_never_run(tmp_path, monkeypatch):
    """webdataset runs URLs that start with "pipe:": every shard is an absolute local path, so a folder or file
    named "pipe:..." is data, not a command."""
    from methods.data.stream import expand_shards, read_all

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "pipe:touch pwned;true"
    folder.mkdir()
    _shard(folder / "a.tar", [{"__key__": "k0", "txt": b"a caption"}])
    for spec in ("pipe:touch pwned;true", "pipe:touch pwned;true/{a..a}.tar"):
        urls = expand_shards(spec)
        assert urls == [str(folder / "a.tar")]
        assert [s["__key__"] for s in read_all(urls)] == ["k0"]
    assert not (tmp_path / "pwned").exists()


def test_a_shard_listing_of_absurd_length_is_refused_before_it_is_built():
    from methods.data.stream import expand_shards

    with pytest.raises(ValueError, match="lists more than 1,000,000 shards"):
        expand_shards("/x/{0..99999999}.tar")


def test_a_run_killed_before_its_first_heartbeat_is_recognised_as_dead(scenes, tmp_path):
    """sacred writes info.json (with the pid) only at the first heartbeat; run.json carries the pid from the start,
    so a record killed before then is stale at once, not RUNNING forever."""
    import datetime as dt

    from experiments.experiment import run_training
    from experiments.records import is_stale

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    just_now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat()
    killed = {"status": "RUNNING", "host": {"hostname": socket.gethostname()}, "start_time": just_now,
              "meta": {"pid": dead.pid}}
    assert is_stale(killed, {})
    assert not is_stale(killed | {"meta": {"pid": os.getpid()}}, {})
    run = run_training(C.resolve(tiny_overrides(**{"train.steps": 1})), tmp_path)
    assert json.loads((tmp_path / str(run._id) / "run.json").read_text())["meta"]["pid"] == os.getpid()


def test_a_cell_another_process_trains_is_waited_for_not_trained_twice(scenes, tmp_path):
    from filelock import FileLock

    from analysis.load import load_runs
    from experiments.orchestrate import run_cell

    cfg = C.resolve(tiny_overrides(**{"train.steps": 1, "eval.sets": "[retrieval/scenes]", "eval.maps": 0}))
    (tmp_path / "locks").mkdir()
    with FileLock(str(tmp_path / "locks" / f"{C.fingerprint(cfg)}.lock")):  # another process holds the cell
        assert run_cell(cfg, tmp_path, wait=False) == "busy"
    assert not (tmp_path / "1").exists()
    assert run_cell(cfg, tmp_path) == "trained" and run_cell(cfg, tmp_path) == "done"
    assert len(load_runs(tmp_path)) == 1


def test_two_tables_on_one_runs_dir_share_the_cells(scenes, tmp_path):
    """Two processes run the same manifest on one runs dir at once: every cell trains exactly once."""
    from analysis.load import load_runs

    common = {k: v for k, v in tiny_overrides().items() if k not in ("method", "scale")}
    overrides = common | {"train.steps": 2, "eval.sets": ["retrieval/scenes"], "eval.maps": 0}
    code = ("import sys; sys.path.insert(0, '.'); from experiments.orchestrate import run_manifest; "
            f"run_manifest('clip_tiny', seeds=(0, 1, 2), runs_dir={str(tmp_path / 'runs')!r}, "
            f"out_dir={str(tmp_path / 'out')!r}, overrides={overrides!r})")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()[-2000:]
    runs = load_runs(tmp_path / "runs")
    assert len(runs) == 3 and runs["fingerprint"].nunique() == 3


@pytest.mark.parametrize("flag", ["--runs-dir", "--out", "--archive"])
def test_a_file_where_a_folder_must_be_is_one_line_before_any_work(flag, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    args = ["clip_tiny", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), flag, str(blocker)]
    for extra in ([], ["--report-only"], ["--dry-run"]):
        assert main(args + extra) == 2
        err = capsys.readouterr().err
        assert "is not a writable folder" in err and str(blocker) in err and err.count("\n") == 1, err


def test_a_read_only_benchmark_folder_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    if os.geteuid() == 0:  # root writes anywhere: make the folder a file instead
        (tmp_path / "ro").write_text("")
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
    monkeypatch.setenv("SUITE_DATA", str(tmp_path / "ro"))
    assert main(_train_args() + ["--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "benchmark data folder ($SUITE_DATA)" in err and "is not a writable folder" in err
    assert err.count("\n") == 1, err


def test_a_full_disk_marks_the_run_failed_with_one_line(scenes, tmp_path, capsys, monkeypatch):
    from experiments import experiment

    def full(items, run):
        raise OSError(28, "No space left on device", str(tmp_path / "runs" / "1" / "items.npz"))

    monkeypatch.setattr(experiment, "save_items", full)
    code = main([*_train_args(), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("error: no space left on the device writing ") and "items.npz" in err
    assert json.loads((tmp_path / "runs" / "1" / "run.json").read_text())["status"] == "FAILED"


def test_tensorboard_without_its_package_is_refused_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    cfg = C.resolve(tiny_overrides(**{"train.tensorboard": str(tmp_path / "tb")}))
    with pytest.raises(C.ConfigError, match="train.tensorboard needs the tensorboard package: pip install"):
        C.preflight(cfg, tmp_path / "runs")


def test_an_absurd_tiny_estimate_is_one_warning_line():
    from experiments.scales import absurd_estimate

    assert absurd_estimate(C.resolve({"method": "cosmos"})) is None  # the tiny profile: minutes
    line = absurd_estimate(C.resolve({"method": "cosmos", "train.steps": 10_000_000}))
    assert line.startswith("warning: this run is estimated at ") and "days" in line and "train.steps=10,000,000" in line
    assert "\n" not in line
    assert absurd_estimate(C.resolve({"method": "clip", "scale": "paper", "data.shards": "/d"})) is None
