"""The prepared GPU check runs end to end on this CPU in its smoke mode, so the script is tested before a GPU slot."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from .conftest import ROOT


def test_the_gpu_check_smoke_mode_runs_every_stage_and_writes_its_summary(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--cpu-smoke", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    stages = {"environment", "cuda tests", "augment=device", "train end to end"} | {
        f"step {m} b4 fp32" for m in ("clip", "slip", "silc", "cosmos")}
    assert stages <= set(summary) and all(v["ok"] for v in summary.values())
    assert summary["train end to end"]["value"]["status"] == "COMPLETED"
    md = (tmp_path / "summary.md").read_text()
    assert "| cosmos | 4 | fp32 |" in md and "Stages failed or skipped: none." in md
    if not torch.cuda.is_available():  # no GPU and no --cpu-smoke: refused with one line
        refused = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(tmp_path / "x")],
                                 cwd=ROOT, capture_output=True, text=True)
        assert refused.returncode == 2 and "use --cpu-smoke" in refused.stderr
