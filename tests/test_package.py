"""The suite installs as a package: `pip install .` gives importable methods/experiments/analysis with their
data files and a `cosmos-suite` command that works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT


def test_pip_install_gives_the_packages_their_data_and_the_command(tmp_path):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, timeout=300, capture_output=True)
    env = os.environ | {"PYTHONPATH": str(target)}
    code = ("import methods, experiments.manifests as m, analysis.make; "
            "from methods.encoders import CONFIG_DIR; from methods.evals.segsets import SCLIP_NAMES; "
            "assert methods.__file__.startswith(%r), methods.__file__; "
            "assert (CONFIG_DIR / 'ViT-Tiny-16-64.json').exists() and list(SCLIP_NAMES.glob('cls_*.txt')); "
            "assert 'table3' in m.names()" % str(target))
    subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, check=True, timeout=120)
    out = subprocess.run([sys.executable, str(target / "bin" / "cosmos-suite"), "list"], cwd=elsewhere, env=env,
                         check=True, timeout=120, capture_output=True, text=True).stdout
    assert "table3" in out and "COSMOS Table 3" in out
