"""Experiment manifests: one torch-free module per paper table, figure or ablation.

A manifest module defines:
    TITLE: str                     what it reproduces
    ROWS: dict[str, dict]          row label -> dotted config overrides (method, switches)
    COLUMNS: dict[str, str]        metric key -> column header
    SEEDS: tuple[int, ...]         default seeds
    SCALES: tuple[str, ...]        scales it supports
    PAPER: dict[str, dict]         row label -> {paper column: (value, tag)}; tag A / T / U (paper_numbers.md)
and optionally:
    SETTINGS: dict[str, dict]      scale -> dotted overrides for every cell at that scale
    COLUMNS_BY_SCALE: dict         scale -> COLUMNS where a scale measures other datasets (paper: real data)
    ROWS_BY_SCALE: dict            scale -> ROWS where a scale compares other models (e.g. released checkpoints);
                                   a value "$NAME" is read from the environment variable NAME when cells resolve
    CLAIMS: list[tuple]            (text, better row, worse row, metric key or "all"): checked in the report
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


def settings(manifest: ModuleType, scale: str) -> dict:
    return dict(getattr(manifest, "SETTINGS", {}).get(scale, {}))
