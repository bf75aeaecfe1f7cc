"""Experiment manifests: one torch-free module per paper table, figure or ablation.

A manifest module defines:
    TITLE: str                     what it reproduces
    ROWS: dict[str, dict]          row label -> dotted config overrides (method, switches)
    COLUMNS: dict[str, str]        metric key -> column header
    SEEDS: tuple[int, ...]         default seeds at small and paper scale (tiny: TINY_SEEDS, 3 of them)
    SCALES: tuple[str, ...]        scales it supports
    PAPER: dict[str, dict]         row label -> {paper column: (value, tag)}; tag A / T / U (paper_numbers.md)
and optionally:
    SETTINGS: dict[str, dict]      scale -> dotted overrides for every cell at that scale
    COLUMNS_BY_SCALE: dict         scale -> COLUMNS where a scale measures other datasets (paper: real data)
    ROWS_BY_SCALE: dict            scale -> ROWS where a scale compares other models (e.g. released checkpoints);
                                   a value "$NAME" is read from the environment variable NAME when cells resolve
    CLAIMS: list[tuple]            (text, better row, worse row, metric key): checked in the report; at paper
                                   scale a benchmark key stands for the paper's headline set (PAPER_EQUIVALENT)
    CLAIMS_BY_SCALE: dict          scale -> CLAIMS where a scale compares other rows (e.g. checkpoints)
    CURVES: tuple[str, ...]        metric keys drawn against the training step (runs with train.eval_every)
    BUDGET_CLAIMS: list[tuple]     claims judged at every evaluation during training, against samples and FLOPs
                                   (analysis/budget.py; the budget manifest)
Its docstring states what the paper artefact shows, the command, and the compute budget per scale.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ..errors import ConfigError

REQUIRED = ("TITLE", "ROWS", "COLUMNS", "SEEDS", "SCALES", "PAPER")


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    if name not in names():
        raise ConfigError(f"unknown manifest {name!r}; valid choices: {', '.join(names())}")
    mod = importlib.import_module(f"{__name__}.{name}")
    missing = [k for k in REQUIRED if not hasattr(mod, k)]
    if missing:
        raise ValueError(f"manifest {name!r} lacks {', '.join(missing)}")
    return mod


def columns(manifest: ModuleType, scale: str) -> dict[str, str]:
    return getattr(manifest, "COLUMNS_BY_SCALE", {}).get(scale, manifest.COLUMNS)


def rows(manifest: ModuleType, scale: str) -> dict[str, dict]:
    return getattr(manifest, "ROWS_BY_SCALE", {}).get(scale, manifest.ROWS)


# At tiny scale every cell trains 3 seeds: what a claim's paired interval needs to carry training noise at all.
TINY_SEEDS = (0, 1, 2)


def seeds(manifest: ModuleType, scale: str) -> tuple[int, ...]:
    return TINY_SEEDS if scale == "tiny" else tuple(manifest.SEEDS)


def settings(manifest: ModuleType, scale: str) -> dict:
    return dict(getattr(manifest, "SETTINGS", {}).get(scale, {}))


# At paper scale a claim stated on a benchmark metric is checked on the real set the paper headlines.
PAPER_EQUIVALENT = {"retrieval/scenes/": "retrieval/coco/", "classification/scenes/": "classification/imagenet/",
                    "linear/scenes/": "linear/imagenet/", "compositional/scenes/": "compositional/sugarcrepe/",
                    "perception/scenes/": "perception/mmvp/", "segmentation/scenes/": "segmentation/voc20/"}


def claims(manifest: ModuleType, scale: str) -> list[tuple[str, str, str, str]]:
    """The manifest's claims with the metric keys of `scale` (a claim on a metric the scale does not show is left
    out: the report only judges what its table shows)."""
    by_scale = getattr(manifest, "CLAIMS_BY_SCALE", {})
    if scale in by_scale:
        return list(by_scale[scale])
    out = list(getattr(manifest, "CLAIMS", []))
    if scale == "paper":
        out = [(text, a, b, next((key.replace(k, v) for k, v in PAPER_EQUIVALENT.items() if key.startswith(k)), key))
               for text, a, b, key in out]
    shown = columns(manifest, scale)
    return [c for c in out if c[3] in shown]
