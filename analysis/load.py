"""Load sacred FileStorageObserver runs (JSON only; never builds a model) into a pandas DataFrame.

An unreadable record (cut off by a full disk or a kill, not JSON) is skipped with a warning naming it: one bad
record never breaks a table. Only COMPLETED runs count by default; a killed run's record says INTERRUPTED once
a rerun resumed it (experiments/records.py)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exn:
        warnings.warn(f"skipping unreadable run record {path}: {exn}", stacklevel=3)
        return None
    if not isinstance(data, dict):
        warnings.warn(f"skipping run record {path}: not a JSON object", stacklevel=3)
        return None
    return data


def read_record(run_json: Path) -> tuple[dict | None, dict]:
    """(run.json, info.json) of one run folder; run is None when the record cannot be read."""
    run = _read(Path(run_json))
    if run is None:
        return None, {}
    info = _read(Path(run_json).parent / "info.json")
    return run, info if info is not None else (run.get("info") or {})


def load_runs(runs_dir: str | Path, status: str | None = "COMPLETED") -> pd.DataFrame:
    """One row per run: run_id, status, fingerprint, flattened config (prefixed 'config.'), result metrics."""
    rows = []
    for run_json in sorted(Path(runs_dir).glob("*/run.json"), key=lambda p: int(p.parent.name)
                           if p.parent.name.isdigit() else 0):
        run, info = read_record(run_json)
        if run is None or (status and run.get("status") != status):
            continue
        cfg_path = run_json.parent / "config.json"
        cfg = _read(cfg_path) if cfg_path.exists() else {}
        if cfg is None:  # unreadable: warned, skipped
            continue
        row = {"run_id": run_json.parent.name, "status": run.get("status"), "fingerprint": info.get("fingerprint"),
               "data": info.get("data"), "wall_time_s": info.get("wall_time_s"),
               "skipped_samples": info.get("skipped_samples"), "flops_per_sample": info.get("flops_per_sample")}
        row |= {f"config.{k}": v for k, v in _flatten(cfg).items()}
        result = run.get("result") or {}
        row |= {k: v for k, v in result.items() if isinstance(v, (int, float))} if isinstance(result, dict) else {}
        rows.append(row)
    return pd.DataFrame(rows)
