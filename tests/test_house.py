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


# The product's prose: the README and the pages beside it (reports/ are generated, and checked by their own tests).
DOCS = ("README.md", "docs/*.md", "benchmarks/README.md", "reports/README.md", "reports/records/README.md")


def _doc_pages():
    return [p for pattern in DOCS for p in sorted(ROOT.glob(pattern))]


def test_every_relative_link_in_the_docs_resolves():
    pages = _doc_pages()
    assert len(pages) >= 8
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"(https?|mailto):", target) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to missing files: {', '.join(broken)}"


def test_readme_is_short_lists_every_manifest_and_links_every_doc_page():
    from experiments import manifests

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, "README over 200 lines: move details to docs/"
    for name in manifests.names():
        assert f"`{name}`" in readme, f"manifest {name} is not in the README table"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, f"docs/{page.name} is not linked from the README"


def test_the_docs_name_no_development_history():
    """Numbered work items (issues, sessions) mean nothing to a reader: the docs and code say what and why."""
    pages = _doc_pages() + [p for pkg in ("methods", "experiments", "analysis", "benchmarks")
                            for p in sorted((ROOT / pkg).rglob("*.py"))]
    pattern = re.compile(r"\b(issue|session)[ -]?#?\d+", re.I)
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in pages for m in pattern.finditer(p.read_text())]
    assert not found, f"development history in the product's text: {', '.join(found)}"


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


def _method_name_branches(source: str, names: set[str]) -> list[int]:
    """Lines that branch on, or key data by, a method's registry name: a comparison with the name (or a
    collection of names), a dict key holding it, a subscript by it."""
    def named(node) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in names
        return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(named(e) for e in node.elts)

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(named(n) for n in [node.left, *node.comparators]):
            lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and named(k) for k in node.keys):
            lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and named(node.slice):
            lines.append(node.lineno)
    return lines


def test_no_file_outside_a_method_branches_on_a_method_name():
    """What a method needs (scale sizes, step costs, back-compat defaults, data requirements, figures) is its own
    metadata (methods/base.py); only the method's file, the registry and the recipe audit against the official
    scripts name methods. Manifests name them as data ({"method": "cosmos"}), which is no branch."""
    from methods import METHODS

    names = set(METHODS)
    assert _method_name_branches('if cfg["method"] == "cosmos": pass\nX = {("tiny", "slip"): 1}\ny = t["silc"]\n'
                                 'ok = {"method": "clip"}', names) == [1, 2, 3]
    allowed = {ROOT / "methods" / f"{n}.py" for n in names} | {ROOT / "methods" / "__init__.py",
                                                                ROOT / "experiments" / "recipes.py"}
    bad = []
    for pkg in ("methods", "experiments", "analysis", "benchmarks"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path not in allowed:
                bad += [f"{path.relative_to(ROOT)}:{n}" for n in _method_name_branches(path.read_text(), names)]
    assert not bad, f"method names branched on outside methods/<name>.py: {', '.join(bad)}"


# The rooms of the house, bottom to top (README, "Layout"): a module imports its own room and the rooms below it,
# never one above; and another room only at the top of the file (an import inside a function hides an edge from
# the reader and from the drawing). A module belongs to the room of its longest listed prefix.
ROOMS = (
    ("library", ("methods",)),  # methods/ but its evaluators: Method contract, encoders, data, the loop
    ("evaluators", ("methods.evals",)),  # evaluator plug-ins and the readers of their data (the benchmark's too)
    ("runs", ("experiments",)),  # configs, scales, recipes, manifests, plans, fingerprints, the sacred run
    ("analysis", ("analysis",)),  # logged runs -> statistics -> tables, figures, reports
    ("commands", ("experiments.run", "experiments.commands", "experiments.orchestrate",
                  "experiments.archive")),  # the CLI and its steps
)


def _room(module: str) -> int:
    hits = [(len(prefix), level) for level, (_, prefixes) in enumerate(ROOMS) for prefix in prefixes
            if module == prefix or module.startswith(prefix + ".")]
    return max(hits)[1] if hits else -1


def _cross_room_imports(path, module: str, is_pkg: bool):
    """(line, imported suite module, inside a function) of every import of `path` that leaves its room."""
    here = module.split(".") if is_pkg else module.split(".")[:-1]
    tree = ast.parse(path.read_text())
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            root = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{root}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t.split(".")[0] in ("methods", "experiments", "analysis") and _room(t) != _room(module):
                yield node.lineno, t, id(node) in in_function


def test_imports_only_go_down_and_only_at_the_top_of_a_file():
    bad = []
    for pkg in ("methods", "experiments", "analysis"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_pkg else parts)
            for line, target, in_function in _cross_room_imports(path, module, is_pkg):
                if _room(target) > _room(module):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} from a room above")
                elif in_function:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} inside a function")
    assert not bad, "\n".join(bad)


def test_the_room_rule_sees_an_upward_and_a_hidden_import(tmp_path):
    """The rule above can fail: an evaluator reader in the data layer and a lazy import are both caught."""
    upward = tmp_path / "evalsets.py"
    upward.write_text("from ...evals.datasets import LabelledImages\n")
    assert [(t, f) for _, t, f in _cross_room_imports(upward, "methods.data.scenes.evalsets", False)] == \
        [("methods.evals.datasets.LabelledImages", False)]
    assert _room("methods.evals.datasets.LabelledImages") > _room("methods.data.scenes.evalsets")
    hidden = tmp_path / "late.py"
    hidden.write_text("def f():\n    from methods.train import train\n")
    assert [(t, f) for _, t, f in _cross_room_imports(hidden, "experiments.late", False)] == \
        [("methods.train.train", True)]


# The run config is read by attribute (experiments/config.py RunConfig). Dict lookups remain only where a recorded
# config.json is read as it was written (records of every schema version): the fingerprint's hash of it (it reads
# its `record` / `sem` dicts, not `cfg`), and `typed` / `_upgrade`, which turn a record back into the typed form.
RECORD_READERS = {("experiments/config.py", "_upgrade"): 2, ("experiments/config.py", "typed"): 1}


def test_the_run_config_is_read_by_attribute():
    lookup = re.compile(r"\b(cfg|config|run_config|rc)(\[\"|\.get\()")
    found: dict = {}
    for pkg in ("experiments", "methods"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path.parent.name == "scenes" and path.name == "card.py":
                continue  # its `cfg` is a benchmark preset's settings, not a run config
            tree = ast.parse(path.read_text())
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef):
                    continue
                n = len(lookup.findall(ast.get_source_segment(path.read_text(), fn) or ""))
                inner = sum(len(lookup.findall(ast.get_source_segment(path.read_text(), g) or ""))
                            for g in ast.walk(fn) if g is not fn and isinstance(g, ast.FunctionDef))
                if n - inner:
                    found[(str(path.relative_to(ROOT)), fn.name)] = n - inner
    assert found == RECORD_READERS, found
    assert sum(found.values()) <= 5
