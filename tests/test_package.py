"""The suite installs as a package: `pip install -e .` gives a `cosmos-suite` command that works from any directory;
a non-editable install has the packages and their data files, and its command refuses in one line (the reports,
the run archive and SLURM's working folder are the checkout's)."""

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
    refused = subprocess.run([sys.executable, str(target / "bin" / "cosmos-suite"), "list"], cwd=elsewhere,
                             env=env, timeout=120, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "runs from its source checkout (pip install -e <checkout>)" in refused.stderr


def test_the_command_runs_from_the_checkout_and_from_any_folder(tmp_path, monkeypatch, capsys):
    """`cosmos-suite` of an editable install is this checkout's code: it runs from any working folder; an archive
    it cannot find there is a one-line error, not a report of missing cells."""
    import pytest

    from experiments.run import cli, in_checkout

    assert in_checkout() and not in_checkout(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["cosmos-suite", "list"])
    with pytest.raises(SystemExit) as done:
        cli()
    assert done.value.code == 0 and "table3" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["cosmos-suite", "budget", "--report-only", "--archive"])
    with pytest.raises(SystemExit) as done:
        cli()
    err = capsys.readouterr().err
    assert done.value.code == 2 and "--archive: no run archive at" in err and err.count("\n") == 1
    assert not (tmp_path / "reports").exists(), "nothing written"
