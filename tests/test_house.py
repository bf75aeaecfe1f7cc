"""House rules a test can see: import layering, torch-free manifests, README links and artefact table."""

from __future__ import annotations

import ast
import dataclasses
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


def _module_graph() -> dict[str, set[str]]:
    """module -> the suite modules it imports (function-level imports included; relative imports resolved)."""
    names = {}
    for pkg in ("methods", "experiments", "analysis"):
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            names[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    graph = {}
    for mod, (path, is_pkg) in names.items():
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - node.level + 1] if node.level else []
                root = ".".join(base + ([node.module] if node.module else []))
                targets = [root] + [f"{root}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in names:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    deps.add(t)
        graph[mod] = deps
    return graph


def test_no_import_circle():
    graph, state, path = _module_graph(), {}, []

    def visit(m):
        state[m] = 1
        path.append(m)
        for d in graph[m]:
            if d.startswith(m + ".") or m.startswith(d + ".") and d == m.rpartition(".")[0]:
                continue  # a package and its own submodules
            assert state.get(d) != 1, f"import circle: {' -> '.join(path[path.index(d):] + [d])}"
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_a_misspelt_manifest_field_is_an_error():
    import types

    import pytest

    from experiments import manifests
    from experiments.errors import ConfigError

    mod = types.ModuleType("zz_misspelt", "A manifest with a typo.")
    mod.__dict__.update(TITLE="t", ROWS={"CLIP": {"method": "clip"}}, COLUMNS={}, SEEDS=(0,), SCALES=("tiny",),
                        PAPER={}, CURVE=("x",))
    with pytest.raises(ConfigError, match="unknown field.*CURVE; valid fields: .*CURVES"):
        manifests.from_module(mod, "zz_misspelt")
    del mod.CURVE, mod.PAPER
    with pytest.raises(ConfigError, match="lacks PAPER"):
        manifests.from_module(mod, "zz_misspelt")
    m = manifests.load("table5")
    assert m.name == "table5" and m.CURVES == () and m.doc.startswith("COSMOS paper Table 5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.TITLE = "x"
