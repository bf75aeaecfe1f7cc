"""House rules a test can see: import layering, torch-free manifests, README links and artefact table."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from .conftest import ROOT


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_library_imports_no_sacred_experiments_or_analysis():
    for path in (ROOT / "methods").rglob("*.py"):
        bad = set(_imports(path)) & {"sacred", "experiments", "analysis"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def _modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_analysis_never_builds_a_model():
    """analysis/ reads logged runs: no torch, no open_clip, and of the library only the evaluators' metric rules
    (methods.evals: a metric is defined once, beside the code that computes it)."""
    for path in (ROOT / "analysis").rglob("*.py"):
        mods = set(_modules(path))
        bad = {m for m in mods if m.split(".")[0] in ("torch", "open_clip")}
        bad |= {m for m in mods if m.split(".")[0] == "methods" and m != "methods.evals"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_manifests_are_torch_free():
    code = ("import sys; sys.path.insert(0, '.'); from experiments import manifests; "
            "[manifests.load(n) for n in manifests.names()]; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_readme_links_resolve_and_every_manifest_is_listed():
    from experiments import manifests

    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to missing {target}"
    for name in manifests.names():
        assert f"`{name}`" in readme, f"manifest {name} is not in the README table"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert "experiments/run.py" in blocks[0] and "pytest" in blocks[1]
    test_cmd = blocks[1].strip().splitlines()[-1]
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
