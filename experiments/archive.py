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

A record is archived into a temporary sibling and renamed, so a kill leaves the previous record or none; an
archived folder whose config does not give its fingerprint (a hand-edited or mis-copied record) is skipped with a
warning naming it, never restored.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

from .layout import CURVE, RUN_FILES, completed_runs

DEFAULT = Path("reports/records")
RESTORED = "restored_from"  # a file in a restored run folder naming the archive record it came from


def export(runs_dir: Path, fingerprints, archive: Path = DEFAULT) -> list[str]:
    """Archive the latest completed run of each fingerprint that has one (replacing an older record of it);
    returns the fingerprints archived."""

    latest = completed_runs(Path(runs_dir))
    out = []
    for fp in fingerprints:
        if fp not in latest:
            continue
        dest = Path(archive) / fp
        tmp = Path(archive) / f".{fp}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "run").mkdir(parents=True)
        for name in RUN_FILES:
            if (latest[fp] / name).exists():
                shutil.copy2(latest[fp] / name, tmp / "run" / name)
        curve = Path(runs_dir) / "checkpoints" / fp / CURVE
        if curve.is_dir():
            shutil.copytree(curve, tmp / CURVE)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        out.append(fp)
    return out


def _fingerprint_of(record: Path) -> str | None:
    from . import config as C

    try:
        return C.fingerprint(json.loads((record / "run" / "config.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    as new numbered run folders, with their curve points; returns the fingerprints restored."""

    archive, runs_dir = Path(archive), Path(runs_dir)
    if not archive.is_dir():
        return []
    have = set(completed_runs(runs_dir))
    wanted = None if fingerprints is None else set(fingerprints)
    out = []
    for record in sorted(p for p in archive.iterdir() if p.is_dir() and not p.name.startswith(".")):
        fp = record.name
        if (wanted is not None and fp not in wanted) or fp in have:
            continue
        if not (record / "run" / "run.json").exists() or _fingerprint_of(record) != fp:
            warnings.warn(f"skipping archived run {record}: no run.json, or its config.json does not give "
                          f"fingerprint {fp}", stacklevel=2)
            continue
        run_dir = _new_run_dir(runs_dir)
        for f in (record / "run").iterdir():
            shutil.copy2(f, run_dir / f.name)
        (run_dir / RESTORED).write_text(f"{record}\n")
        if (record / CURVE).is_dir():
            shutil.copytree(record / CURVE, runs_dir / "checkpoints" / fp / CURVE, dirs_exist_ok=True)
        out.append(fp)
    return out
