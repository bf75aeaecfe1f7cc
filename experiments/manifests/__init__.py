"""Experiment manifests: one torch-free module per paper table, figure or ablation, loaded as a frozen `Manifest`.

A manifest module's public ALL-CAPS globals are the fields of `Manifest` below (its docstring: what the paper
artefact shows, the command, the compute budget per scale); anything else it needs is private (`_NAME`), and an
unknown public field (a misspelling) is an error at load. Columns several manifests share live in _shared.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

from ..errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Manifest:
    name: str  # the module's name
    doc: str  # the module's docstring (a report opens with its first paragraph)
    TITLE: str  # what it reproduces
    ROWS: dict  # row label -> dotted config overrides (method, switches)
    COLUMNS: dict  # metric key -> column header
    SEEDS: tuple  # default seeds at small and paper scale (tiny: TINY_SEEDS)
    SCALES: tuple  # scales it supports
    PAPER: dict  # row label -> {paper column: (value, tag)}; tag A / T / U (paper_numbers.md)
    SETTINGS: dict = dataclasses.field(default_factory=dict)  # scale -> dotted overrides for every cell
    COLUMNS_BY_SCALE: dict = dataclasses.field(default_factory=dict)  # scale -> COLUMNS (paper: real data)
    # scale -> ROWS where a scale compares other models (released checkpoints); a value "$NAME" is read from the
    # environment variable NAME when cells resolve
    ROWS_BY_SCALE: dict = dataclasses.field(default_factory=dict)
    # (text, better row, worse row, metric key), judged in the report; at paper scale a benchmark key stands for
    # the paper's headline set (PAPER_EQUIVALENT)
    CLAIMS: list = dataclasses.field(default_factory=list)
    CLAIMS_BY_SCALE: dict = dataclasses.field(default_factory=dict)  # scale -> CLAIMS
    CURVES: tuple = ()  # metric keys drawn against the training step (runs with train.eval_every)
    # claims judged at every evaluation during training, against samples and FLOPs (analysis/budget.py)
    BUDGET_CLAIMS: list = dataclasses.field(default_factory=list)
    # a pre-registered decision rule: DECISION(mean, gap) -> the report's lines, where mean(row, metric) is a
    # row's seed-mean and gap(better, worse, metric) its paired interval (.mean, .lo, .hi) against another row
    DECISION: object = None
    # benchmark version -> what the numbers do not show (sentences measured on that benchmark), printed in the
    # reports of runs on it
    CAVEATS: dict = dataclasses.field(default_factory=dict)
    # the texts of the primary claims, registered before the runs: judged on their own interval; every other claim
    # is secondary, judged on Holm-adjusted p-values across the manifest's secondary claims (analysis/statistics.py)
    PRIMARY: tuple = ()
    # row label -> its seeds at every scale, where a rule registered before the runs gives a row more than the
    # default (the rows of a primary comparison: docs/statistics.md "Seeds where they matter")
    ROW_SEEDS: dict = dataclasses.field(default_factory=dict)


FIELDS = tuple(f.name for f in dataclasses.fields(Manifest) if f.name.isupper())
REQUIRED = tuple(f.name for f in dataclasses.fields(Manifest)
                 if f.name.isupper() and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Manifest:
    if name not in names():
        raise ConfigError(f"unknown manifest {name!r}; valid choices: {', '.join(names())}")
    return from_module(importlib.import_module(f"{__name__}.{name}"), name)


def from_module(mod, name: str) -> Manifest:
    """Validate a manifest module's fields and freeze them (a misspelt public field is an error)."""
    public = {k: v for k, v in vars(mod).items() if k.isupper() and not k.startswith("_")}
    unknown = sorted(set(public) - set(FIELDS))
    if unknown:
        raise ConfigError(f"manifest {name!r} has unknown field(s) {', '.join(unknown)}; valid fields: "
                          f"{', '.join(FIELDS)} (a helper of its own is private: _NAME)")
    missing = [k for k in REQUIRED if k not in public]
    if missing:
        raise ConfigError(f"manifest {name!r} lacks {', '.join(missing)}")
    stray = sorted(set(public.get("ROW_SEEDS", {})) - set(public.get("ROWS", {})))
    if stray:
        raise ConfigError(f"manifest {name!r}: ROW_SEEDS names unknown row(s) {', '.join(stray)}")
    return Manifest(name=name, doc=mod.__doc__ or "", **public)


def columns(manifest: Manifest, scale: str) -> dict[str, str]:
    return manifest.COLUMNS_BY_SCALE.get(scale, manifest.COLUMNS)


def rows(manifest: Manifest, scale: str) -> dict[str, dict]:
    return manifest.ROWS_BY_SCALE.get(scale, manifest.ROWS)


# At tiny scale every cell trains 3 seeds: what a claim's paired interval needs to carry training noise at all.
TINY_SEEDS = (0, 1, 2)


def seeds(manifest: Manifest, scale: str, row: str | None = None) -> tuple[int, ...]:
    """The seeds a row trains at a scale (row None: the manifest's default, what a pre-registered DECISION reads)."""
    if row in manifest.ROW_SEEDS:
        return tuple(manifest.ROW_SEEDS[row])
    return TINY_SEEDS if scale == "tiny" else tuple(manifest.SEEDS)


def settings(manifest: Manifest, scale: str) -> dict:
    return dict(manifest.SETTINGS.get(scale, {}))


# At paper scale a claim stated on a benchmark metric is checked on the real set the paper headlines.
PAPER_EQUIVALENT = {"retrieval/scenes/": "retrieval/coco/", "classification/scenes/": "classification/imagenet/",
                    "linear/scenes/": "linear/imagenet/", "compositional/scenes/": "compositional/sugarcrepe/",
                    "perception/scenes/": "perception/mmvp/", "segmentation/scenes/": "segmentation/voc20/"}


def claims(manifest: Manifest, scale: str) -> list[tuple[str, str, str, str]]:
    """The manifest's claims with the metric keys of `scale` (a claim on a metric the scale does not show is left
    out: the report only judges what its table shows)."""
    if scale in manifest.CLAIMS_BY_SCALE:
        return list(manifest.CLAIMS_BY_SCALE[scale])
    out = list(manifest.CLAIMS)
    if scale == "paper":
        out = [(text, a, b, next((key.replace(k, v) for k, v in PAPER_EQUIVALENT.items() if key.startswith(k)), key))
               for text, a, b, key in out]
    shown = columns(manifest, scale)
    return [c for c in out if c[3] in shown]
