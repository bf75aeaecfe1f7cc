"""Load sacred FileStorageObserver runs (JSON only; never builds a model) into a pandas DataFrame."""

from __future__ import annotations

import json
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


def load_runs(runs_dir: str | Path, status: str | None = "COMPLETED") -> pd.DataFrame:
    """One row per run: run_id, status, fingerprint, flattened config (prefixed 'config.'), result metrics."""
    rows = []
    for run_json in sorted(Path(runs_dir).glob("*/run.json"), key=lambda p: int(p.parent.name)
                           if p.parent.name.isdigit() else 0):
        run = json.loads(run_json.read_text())
        if status and run.get("status") != status:
            continue
        cfg_path = run_json.parent / "config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        info_path = run_json.parent / "info.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else run.get("info", {})
        row = {"run_id": run_json.parent.name, "status": run.get("status"), "fingerprint": info.get("fingerprint"),
               "data": info.get("data"), "wall_time_s": info.get("wall_time_s"),
               "skipped_samples": info.get("skipped_samples")}
        row |= {f"config.{k}": v for k, v in _flatten(cfg).items()}
        result = run.get("result") or {}
        row |= {k: v for k, v in result.items() if isinstance(v, (int, float))}
        rows.append(row)
    return pd.DataFrame(rows)
