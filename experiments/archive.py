"""Run archives: the records of finished runs, without their weights, in a folder that can be committed.

A study longer than one session (the budget study: hours on a 2-core CPU) outlives the machine it started on only
if what it finished travels with the repository; and a committed report can be rebuilt, and checked, from the
very runs behind it. `run.py <manifest> --archive [DIR]` (default DIR: reports/records) restores the archived
runs of the manifest's cells into the runs folder before planning (so they are reused by fingerprint, like any
logged run), and archives each cell as it completes.

Layout, one folder per cell fingerprint (the latest completed run of it):
    <archive>/<fingerprint>/run/     run.json, config.json, info.json, metrics.json and the evaluation files
                                     (items.npz, attention_maps.npz): what the tables, figures and reports read
    <archive>/<fingerprint>/curve/   its evaluations during training (<runs>/checkpoints/<fp>/curve/step<N>/)
Never archived: weights (checkpoints are per-machine and large), sacred's captured stdout and sources.

Records are data from elsewhere (a clone, a pull request), so nothing in one is trusted: only regular files of
the known names are copied (a link, FIFO, device or unexpected folder refuses the record; files are opened without
following links and are at most MAX_FILE_BYTES), and a record is restored only when its config.json gives its
folder's fingerprint, its info.json names the same one, its result is finite and every metric its items.npz can
recompute matches (analysis/statistics.py). A refused record is skipped with one warning naming it and why.
Both directions are atomic: a record is exported into a temporary sibling and swapped in (the previous record is
moved aside first, never deleted before the new one is in place, and a kill in between is repaired on the next
call); a run is restored into a temporary folder renamed into place when complete, so a half-restored folder
never counts as a run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import warnings
from pathlib import Path

from analysis.statistics import items_key, metric_batch, n_items
from methods.progress import bar

from . import config as C
from .layout import CURVE, ITEMS, RUN_FILES, checkpoint_dir, completed_runs, load_npz, pid_alive

DEFAULT = Path("reports/records")
RESTORED = "restored_from"  # a file in a restored run folder naming the archive record it came from
CURVE_FILES = ("metrics.json", ITEMS)  # an evaluation during training (experiments/experiment.py)


MAX_FILE_BYTES = 256 << 20  # a record file larger than this is not a record (budget records are ~1 MB)


class UnsafeRecord(ValueError):
    """A record that is not what the suite writes: refused, never copied."""


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes, opened without following a link (and without blocking on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exn:
        raise UnsafeRecord(f"{path.name} cannot be opened as a regular file ({exn.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeRecord(f"{path.name} is not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise UnsafeRecord(f"{path.name} is {st.st_size} bytes (more than {MAX_FILE_BYTES})")
        return f.read(MAX_FILE_BYTES + 1)


def _files(folder: Path, allowed) -> dict[str, bytes]:
    """name -> bytes of every entry of `folder`, which must all be regular files with `allowed` names."""
    if folder.is_symlink() or not folder.is_dir():
        raise UnsafeRecord(f"{folder.name}/ is not a plain folder")
    out = {}
    for entry in sorted(folder.iterdir()):
        if entry.name not in allowed:
            raise UnsafeRecord(f"unexpected {entry.relative_to(folder.parent)} in the record")
        out[entry.name] = _read_regular(entry)
    return out


def _read_record(record: Path) -> tuple[dict[str, bytes], dict[str, dict[str, bytes]]]:
    """(run files, {curve step folder: files}) of an archived record or of a run to export, links refused."""
    run = _files(record / "run", RUN_FILES) if (record / "run").exists() or (record / "run").is_symlink() else {}
    curve = {}
    if (record / CURVE).exists() or (record / CURVE).is_symlink():
        steps = _folders(record / CURVE)
        curve = {name: _files(record / CURVE / name, CURVE_FILES) for name in steps}
    return run, curve


def _folders(folder: Path) -> list[str]:
    if folder.is_symlink() or not folder.is_dir():
        raise UnsafeRecord(f"{folder.name}/ is not a plain folder")
    names = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_dir() or not entry.name.startswith("step"):
            raise UnsafeRecord(f"unexpected {folder.name}/{entry.name} in the record")
        names.append(entry.name)
    return names


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _repair(dest: Path) -> None:
    """An export killed between its two renames left the previous record aside: put it back."""
    old = dest.with_name(f".{dest.name}.old")
    if old.is_dir() and not old.is_symlink() and not dest.exists():
        os.replace(old, dest)
    shutil.rmtree(old, ignore_errors=True)


def export(runs_dir: Path, fingerprints, archive: Path = DEFAULT) -> list[str]:
    """Archive the latest completed run of each fingerprint that has one (replacing an older record of it);
    returns the fingerprints archived."""
    latest = completed_runs(Path(runs_dir))
    _clean_killed_exports(Path(archive))
    out = []
    for fp in fingerprints:
        if fp not in latest:
            continue
        dest = Path(archive) / fp
        _repair(dest)
        tmp = Path(archive) / f".{fp}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        curve_dir = checkpoint_dir(runs_dir, fp) / CURVE
        try:
            run = {n: _read_regular(latest[fp] / n) for n in RUN_FILES if (latest[fp] / n).exists()}
            curve = {name: {n: _read_regular(curve_dir / name / n) for n in CURVE_FILES
                            if (curve_dir / name / n).exists()}
                     for name in (_folders(curve_dir) if curve_dir.is_dir() else [])}
        except UnsafeRecord as exn:
            warnings.warn(f"not archiving run {latest[fp]}: {exn}", stacklevel=2)
            continue
        try:
            _write(tmp / "run", run)
            for name, files in curve.items():
                _write(tmp / CURVE / name, files)
        except BaseException:  # a full disk (or a kill signal): no half-written record left behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = dest.with_name(f".{fp}.old")
        if dest.exists():
            os.replace(dest, old)  # aside, not deleted: a kill from here on is repaired by _repair
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
        out.append(fp)
    return out


def _clean_killed_exports(archive: Path) -> None:
    """Remove the temporary folders (.<fp>.<pid>.tmp) that exports killed before their rename left behind: those
    of processes that no longer run."""
    for tmp in archive.glob(".*.tmp") if archive.is_dir() else ():
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def verify(record: Path, run: dict[str, bytes], curve: dict[str, dict[str, bytes]] | None = None) -> None:
    """Raise UnsafeRecord unless the record is whole and consistent: a COMPLETED run whose config.json gives the
    folder's fingerprint and info.json names it, with its items.npz holding every per-item array its metrics are
    computed from; every final metric and every curve point's metric finite and equal to what its items recompute
    (npz files are read without pickle)."""
    fp = record.name
    try:
        cfg = json.loads(run["config.json"])
        record_run = json.loads(run["run.json"])
        result = record_run.get("result") or {}
        info = json.loads(run.get("info.json", b"{}"))
    except (KeyError, ValueError, AttributeError) as exn:
        raise UnsafeRecord(f"unreadable run.json, config.json or info.json ({exn})") from None
    if record_run.get("status") != "COMPLETED":
        raise UnsafeRecord(f"its run is {record_run.get('status')!r}, not COMPLETED")
    try:
        own = C.fingerprint(cfg)
    except (KeyError, TypeError, ValueError, AttributeError, OSError):
        own = None
    if own != fp or info.get("fingerprint") != fp:
        raise UnsafeRecord(f"its config.json or info.json does not give fingerprint {fp}")
    if ITEMS not in run:
        raise UnsafeRecord(f"no run/{ITEMS} (an archived run keeps its per-item records)")
    _check_metrics(result, run[ITEMS], "run")
    for name, files in (curve or {}).items():
        if set(files) != set(CURVE_FILES):
            raise UnsafeRecord(f"curve point {name} lacks {', '.join(sorted(set(CURVE_FILES) - set(files)))}")
        try:
            metrics = json.loads(files["metrics.json"])
        except ValueError as exn:
            raise UnsafeRecord(f"unreadable {CURVE}/{name}/metrics.json ({exn})") from None
        _check_metrics(metrics, files[ITEMS], f"{CURVE}/{name}")


def _check_metrics(result, items_bytes: bytes, where: str) -> None:
    """Every metric of `result` finite and numeric, the items it needs present, and equal to their recomputation."""
    import io

    import numpy as np

    if not isinstance(result, dict) or any(not isinstance(v, (int, float)) or isinstance(v, bool)
                                           or not math.isfinite(v) for v in result.values()):
        raise UnsafeRecord(f"{where}: a non-finite or non-numeric metric")
    try:
        items = load_npz(io.BytesIO(items_bytes), ITEMS)
    except ValueError as exn:
        raise UnsafeRecord(f"{where}: {exn}") from None
    for key, value in result.items():
        if key.count("/") < 2:  # not an evaluator's "<task>/<dataset>/<metric>"
            continue
        need = items_key(key)
        if need is not None and need not in items:
            raise UnsafeRecord(f"{where}: {ITEMS} lacks {need}, which {key} is computed from")
        again = metric_batch(key, items, np.ones((1, _n_items(key, items)))) if need else None
        if again is not None and abs(float(again[0]) - value) > 1e-3 * max(1.0, abs(value)):
            raise UnsafeRecord(f"{where}: {key} = {value}, but its items give {float(again[0]):.4f}")


def _n_items(key: str, items: dict) -> int:
    return n_items(key, items) or 1

def _new_run_dir(runs_dir: Path) -> Path:
    """A fresh numbered run folder, as sacred's FileStorageObserver numbers them (the next free integer)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    while True:
        ids = [int(p.name) for p in runs_dir.iterdir() if p.name.isdigit()]
        path = runs_dir / str(max(ids, default=0) + 1)
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another process took it: take the next
            continue


def restore(archive: Path, runs_dir: Path, fingerprints=None) -> list[str]:
    """Copy the archived runs (of `fingerprints`, or all) that runs_dir has no completed run of into runs_dir,
    as new numbered run folders, with their curve points; returns the fingerprints restored. A record that is
    not what the suite writes, or does not verify, is skipped with a warning naming it."""
    archive, runs_dir = Path(archive), Path(runs_dir)
    if not archive.is_dir():
        return []
    for old in archive.glob(".*.old"):  # exports killed between their two renames
        _repair(archive / old.name[1:-4])
    have = set(completed_runs(runs_dir))
    wanted = None if fingerprints is None else set(fingerprints)
    out = []

    for record in bar(sorted(p for p in archive.iterdir() if not p.name.startswith(".")), "restore", unit="run"):
        fp = record.name
        if (wanted is not None and fp not in wanted) or fp in have:
            continue
        if record.is_file() and not record.is_symlink():
            continue  # the archive's README
        try:
            if record.is_symlink() or not record.is_dir():
                raise UnsafeRecord("not a plain folder")
            run, curve = _read_record(record)
            if "run.json" not in run:
                raise UnsafeRecord("no run/run.json")
            verify(record, run, curve)
        except UnsafeRecord as exn:
            warnings.warn(f"skipping archived run {record}: {exn}", stacklevel=2)
            continue
        tmp = runs_dir / ".restoring" / f"{fp}-{os.getpid()}"  # two levels down: never seen as a run folder
        shutil.rmtree(tmp, ignore_errors=True)
        _write(tmp, run | {RESTORED: f"{record}\n".encode()})
        points = checkpoint_dir(runs_dir, fp) / CURVE
        for name, files in curve.items():
            if not (points / name / "metrics.json").exists():
                _write(tmp.with_name(tmp.name + "-" + name), files)
                (points / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(points / name, ignore_errors=True)  # an incomplete point (no metrics.json)
                os.replace(tmp.with_name(tmp.name + "-" + name), points / name)
        os.replace(tmp, _new_run_dir(runs_dir))  # onto the new empty folder: the run appears whole, or not at all
        out.append(fp)
    return out
