"""Load sacred FileStorageObserver runs (JSON only; never builds a model) into a pandas DataFrame.

An unreadable record (cut off by a full disk or a kill, not JSON) is skipped with a warning naming it: one bad
record never breaks a table. Only COMPLETED runs count by default; a killed run's record says INTERRUPTED once
a rerun resumed it (experiments/records.py)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd

from experiments.layout import read_json, read_record, run_records


MAX_METRIC = 1e12  # no metric the suite logs comes near (percentages, losses, counts); 1e308 breaks the statistics


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def environment(env, cpu: str | None = None) -> str | None:
    """A run's numeric environment in one phrase: torch, the device (the CPU model sacred records in run.json's
    host, and the kernels torch picked) and the threads (info.json, experiments/experiment.py
    numeric_environment); None where the record has none. Two runs of one config agree to the bit only in the same
    environment (measured: SLIP's table3 cells on an AMD EPYC and an Intel Xeon, both AVX512 at 1 thread, differ)."""
    if not isinstance(env, dict) or not env:
        return None
    threads = env.get("threads")
    device = env.get("cuda_device") or ", ".join(str(p) for p in (cpu, env.get("cpu_capability")) if p) or "?"
    torch_version = env.get("torch", "?")
    if isinstance(torch_version, dict):  # records from before it was written as a string: sacred's jsonpickle form
        torch_version = ((torch_version.get("py/newargs") or {}).get("py/tuple") or ["?"])[0]
    parts = [f"torch {torch_version}", device, f"{threads} thread{'s' if threads != 1 else ''}"]
    return ", ".join(str(p) for p in parts)


def load_runs(runs_dir: str | Path, status: str | None = "COMPLETED") -> pd.DataFrame:
    """One row per run: run_id, status, fingerprint, flattened config (prefixed 'config.'), result metrics."""
    rows, excluded = [], []
    for run_json in run_records(runs_dir):
        run, info = read_record(run_json)
        if run is None or (status and run.get("status") != status):
            continue
        cfg_path = run_json.parent / "config.json"
        cfg = read_json(cfg_path) if cfg_path.exists() else {}
        if cfg is None:  # unreadable: warned, skipped
            continue
        row = {"run_id": run_json.parent.name, "status": run.get("status"), "fingerprint": info.get("fingerprint"),
               "data": info.get("data"), "wall_time_s": info.get("wall_time_s"),
               "skipped_samples": info.get("skipped_samples"), "flops_per_sample": info.get("flops_per_sample"),
               "environment": environment(info.get("environment"), (run.get("host") or {}).get("cpu"))}
        row |= {f"config.{k}": v for k, v in _flatten(cfg).items()}
        result = run.get("result") or {}
        metrics = {k: v for k, v in result.items() if isinstance(v, (int, float))} if isinstance(result, dict) else {}
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v) or abs(v) > MAX_METRIC)
        if bad:  # a damaged record: never a table's best, never a silently dropped seed
            warnings.warn(f"excluding run {run_json.parent}: non-finite or implausible {', '.join(bad[:3])}",
                          stacklevel=2)
            excluded.append(f"run {run_json.parent.name} (non-finite or implausible {', '.join(bad[:3])})")
            continue
        rows.append(row | metrics)
    df = pd.DataFrame(rows)
    df.attrs["excluded"] = excluded  # named in the report
    return df
