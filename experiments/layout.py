"""The run folder's layout, in one place for the side that writes runs and the side that reads them.

    <runs>/<run id>/             sacred's record: run.json, config.json, info.json, metrics.json, and the
                                 evaluation files ITEMS (per-test-item records) and MAPS (attention maps)
    <runs>/checkpoints/<fp>/     a cell's checkpoint (resumable by fingerprint) and its evaluations during
                                 training: CURVE/step<N>/ (metrics.json written last, items.npz)
Torch-free and sacred-free."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

ITEMS = "items.npz"
MAPS = "attention_maps.npz"
RUN_FILES = ("run.json", "config.json", "info.json", "metrics.json", ITEMS, MAPS)
CURVE = "curve"


def checkpoint_dir(runs_dir: Path, fingerprint: str) -> Path:
    return Path(runs_dir) / "checkpoints" / fingerprint


def curve_point_dir(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / CURVE / f"step{int(step):07d}"


def curve_points(ckpt_dir: Path) -> dict[int, Path]:
    """step -> folder of each complete evaluation a run logged during training (metrics.json written last)."""
    folder = Path(ckpt_dir) / CURVE
    if not folder.is_dir():
        return {}
    return {int(d.name[4:]): d for d in sorted(folder.glob("step*")) if (d / "metrics.json").exists()}


def read_json(path: Path) -> dict | None:
    """A record file as a dict; None when absent, or when unreadable (cut off by a full disk or a kill, not JSON),
    with a warning naming it: one bad record never breaks a table."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exn:  # RecursionError: nested
        warnings.warn(f"skipping unreadable run record {path}: {str(exn)[:200]}", stacklevel=3)
        return None
    if not isinstance(data, dict):
        warnings.warn(f"skipping run record {path}: not a JSON object", stacklevel=3)
        return None
    return data


def read_record(run_json: Path) -> tuple[dict | None, dict]:
    """(run.json, info.json) of one run folder; run is None when the record cannot be read."""
    run = read_json(Path(run_json))
    if run is None:
        return None, {}
    info = read_json(Path(run_json).parent / "info.json")
    return run, info if info is not None else (run.get("info") or {})


def run_records(runs_dir: Path) -> list[Path]:
    """Every run.json under runs_dir, in run-id order."""
    return sorted(Path(runs_dir).glob("*/run.json"),
                  key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def completed_runs(runs_dir: Path) -> dict[str, Path]:
    """fingerprint -> folder of its latest COMPLETED run (the run a table uses)."""
    out = {}
    for run_json in run_records(runs_dir):
        run, info = read_record(run_json)
        if run is not None and run.get("status") == "COMPLETED" and info.get("fingerprint"):
            out[info["fingerprint"]] = run_json.parent
    return out


MAX_NPZ_BYTES = 1 << 30  # items and maps of any evaluation the suite runs are far below 1 GiB uncompressed
STRING_ITEMS = ("group",)  # the item fields that hold labels (types, patterns); every other field is numeric
STRING_MAPS = ("captions", "tokens")  # the attention maps' text fields (methods/evals/attention.py)


def load_npz(source, what: str = "npz file", strings: tuple[str, ...] = STRING_ITEMS) -> dict:
    """The arrays of an .npz (a path or a file object) read as data: no pickle, members' uncompressed sizes summed
    from the zip directory before anything is inflated (a zip bomb is refused, not unpacked), and every field
    numeric or boolean except the text fields named in `strings`. ValueError, one line, otherwise."""
    import numpy as np

    try:
        with zipfile.ZipFile(source) as z:
            size = sum(i.file_size for i in z.infolist())
        if size > MAX_NPZ_BYTES:
            raise ValueError(f"{size} bytes uncompressed, over the {MAX_NPZ_BYTES}-byte limit")
        if hasattr(source, "seek"):
            source.seek(0)
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exn:
        raise ValueError(f"unreadable {what}: {str(exn).splitlines()[0][:200] if str(exn) else type(exn).__name__}") \
            from None
    for k, v in arrays.items():
        string_field = k.rsplit("/", 1)[-1] in strings
        if v.dtype.kind not in ("biuf" + ("U" if string_field else "")):
            raise ValueError(f"unreadable {what}: field {k!r} holds {v.dtype} values")
    return arrays


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine with that pid exists (a lock's or a staging folder's owner)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
