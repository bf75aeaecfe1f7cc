"""A manifest's plan: its (row, seed) cells at a scale, each with its resolved config and fingerprint.

Cells match runs by the fingerprint of their resolved config, so a baseline shared by two manifests trains once,
a changed default makes old runs stale, and an interrupted manifest resumes only the missing cells. The side that
trains (experiments/orchestrate.py) and the side that reports (analysis/make.py) both start here.
"""

from __future__ import annotations

import dataclasses

from . import config as C
from . import manifests


@dataclasses.dataclass
class Cell:
    row: str
    seed: int
    config: C.RunConfig
    fingerprint: str


def cells(manifest, scale: str, seeds: tuple[int, ...] | None = None, rows: list[str] | None = None,
          overrides: dict | None = None) -> list[Cell]:
    """The (row, seed) cells of a manifest at a scale; `overrides` (dotted keys) apply to every cell."""
    if scale not in manifest.SCALES:
        raise C.ConfigError(f"manifest {manifest.name!r} does not run at scale {scale!r}; "
                            f"valid choices: {', '.join(manifest.SCALES)}")
    table = manifests.rows(manifest, scale)
    rows = [select_row(r, table) for r in rows or []]
    out = []
    for row, updates in table.items():
        if rows and row not in rows:
            continue
        updates = {k: _from_env(row, k, v) for k, v in updates.items()}
        for seed in seeds or manifests.seeds(manifest, scale, row):
            cfg = C.resolve({**manifests.settings(manifest, scale), **updates, "scale": scale, "seed": seed,
                             **(overrides or {})})
            out.append(Cell(row, seed, cfg, C.fingerprint(cfg)))
    return out


def reconfigured(cell: Cell, **changes) -> Cell:
    """The cell with some keys changed (dotted, e.g. `seed=3`, `**{"train.steps": 1000}`), resolved again: its
    resolved config with those values, validated by the one resolve step."""
    flat: dict = {}
    for name, value in cell.config.to_dict().items():
        flat |= {f"{name}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {name: value}
    cfg = C.resolve(flat | changes)
    return Cell(cell.row, cfg.seed, cfg, C.fingerprint(cfg))


def parse_rows(text: str, manifest, scale: str) -> list[str]:
    """--rows: one row label as it stands (labels may contain commas), else comma-separated labels or first
    words."""
    table = manifests.rows(manifest, scale) if scale in manifest.SCALES else {}
    return [text] if text in table else [r.strip() for r in text.split(",") if r.strip()]


def select_row(name: str, table) -> str:
    """The row label `name` names: the label itself, or its first word when that is unique (`--rows R3,R5`
    selects "R3 COSMOS, student evaluated" and "R5 ..."; labels may contain commas)."""
    if name in table:
        return name
    hits = [label for label in table if label.split()[0] == name.strip()]
    if len(hits) != 1:
        raise C.ConfigError(f"unknown row {name!r}; valid choices: {', '.join(table)} (or a label's first word "
                            "where it is unique)")
    return hits[0]


def _from_env(row: str, key: str, value):
    """A manifest value "$NAME" is the environment variable NAME (e.g. a local checkpoint path)."""
    import os

    if not (isinstance(value, str) and value.startswith("$")):
        return value
    if value[1:] not in os.environ:
        raise C.ConfigError(f"row {row!r} needs {key} from the environment variable {value[1:]} "
                            f"(export {value[1:]}=/path/to/file)")
    return os.environ[value[1:]]
