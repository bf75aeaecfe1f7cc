"""Evaluators as plug-ins (methods/evals/evaluator.py): each task module owns its dataset readers, its runner and
its per-item resampling rule, and scores any Method through encode_image / encode_text / dense_features only.
Metric keys are `<task>/<dataset>/<metric>` (e.g. retrieval/coco/i2t_r1). Add a task: a module with an
EVALUATOR, and one line here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import DataError
from ..progress import bar
from . import classification, compositional, linear_probe, perception, retrieval, segmentation
from .config import EvalConfig
from .embed import shared_embeddings
from .evaluator import Evaluator
from .scenesets import chance_levels, chance_of  # noqa: F401 (the reports' chance lines)

EVALUATORS: dict[str, Evaluator] = {e.task: e for e in (
    retrieval.EVALUATOR, classification.EVALUATOR, compositional.EVALUATOR, linear_probe.EVALUATOR,
    segmentation.EVALUATOR, perception.EVALUATOR)}
EVAL_SETS = tuple(s for e in EVALUATORS.values() for s in e.sets)
# every eval.paths key an evaluation may read (seg_names_dir: optional segmentation name files)
PATH_KEYS = tuple(dict.fromkeys(k for e in EVALUATORS.values() for ks in e.paths.values() for k in ks)) + \
    ("seg_names_dir",)


def check_sets(sets, tasks=()) -> None:
    """Every evaluation set, and every task named in `tasks` (eval.other_weights), exists."""
    for s in sets:
        if s not in EVAL_SETS:
            raise ValueError(f"unknown evaluation {s!r}; valid choices: {', '.join(EVAL_SETS)}")
    for task in tasks:
        if task not in EVALUATORS:
            raise ValueError(f"unknown task {task!r}; valid choices: {', '.join(EVALUATORS)}")


def check_paths(cfg: EvalConfig) -> None:
    """Every data path the configured evaluations read exists (and seg_names_dir, when given): a missing path is
    found before training, not after it."""
    for spec in cfg.sets:
        task, name = spec.split("/")
        for key in EVALUATORS[task].paths.get(name, ()):
            if not cfg.path(key):
                raise ValueError(f"{spec} needs eval.paths.{key}=<path>")
            if not Path(cfg.path(key)).exists():
                raise ValueError(f"eval.paths.{key}={cfg.path(key)!r} does not exist (needed by {spec})")
    if cfg.path("seg_names_dir") and not Path(cfg.path("seg_names_dir")).is_dir():
        raise ValueError(f"eval.paths.seg_names_dir={cfg.path('seg_names_dir')!r} is not a folder")


def evaluate(method, cfg: EvalConfig, scenes: Path | None = None, items: dict | None = None,
             progress: bool | None = None, formats: dict | None = None) -> dict[str, float]:
    """Every configured evaluation -> flat {"<task>/<dataset>/<metric>": value}. With `items`, it also gets each
    evaluation's per-test-item records under "<task>/<dataset>/<field>" (ranks, correctness and groups, per-image
    confusion matrices): what analysis/statistics.py resamples, through the evaluator's own rule. With `formats`,
    it gets "<task>/<dataset>" -> the file layout (and protocol) each real dataset's reader found."""

    check_sets(cfg.sets)
    metrics: dict[str, float] = {}
    sets = bar(cfg.sets, "evaluate", unit="set", show=progress)
    with shared_embeddings():  # one set of weights: an image list is encoded once across the sets
        for spec in sets:
            metrics |= _evaluate_set(method, spec, cfg, scenes, items, sets, formats)
    return metrics


def _evaluate_set(method, spec: str, cfg: EvalConfig, scenes, items, sets, formats) -> dict[str, float]:
    sets.set_postfix_str(spec)
    task, name = spec.split("/")
    evaluator, found = EVALUATORS[task], {}
    try:
        data = evaluator.readers[name](cfg, scenes)
    except (ValueError, FileNotFoundError) as exn:  # data in a wrong layout: one line, the run stops FAILED
        raise DataError(f"{spec}: {exn}") from None
    if formats is not None and getattr(data, "layout", ""):
        protocol = getattr(data, "protocol", "")
        formats[spec] = data.layout + (f"; protocol {protocol}" if protocol else "")
    metrics = {f"{spec}/{k}": v for k, v in evaluator.run(method, data, cfg, found).items()}
    if items is not None:
        items |= {f"{spec}/{k}": v for k, v in found.items()}
    return metrics


def evaluate_other_weights(method, cfg: EvalConfig, scenes: Path | None = None) -> dict[str, float]:
    """The configured evaluations of the tasks in cfg.other_weights, again with each of the method's other weights
    (Method.other_weights), as {"<weights>/<task>/<dataset>/<metric>": value}; {} for a method with one set."""
    sets = tuple(s for s in cfg.sets if s.split("/")[0] in cfg.other_weights)
    out: dict[str, float] = {}
    for weights in method.other_weights() if sets else ():
        with method.evaluating(weights):
            found = evaluate(method, dataclasses.replace(cfg, sets=sets), scenes)
            out |= {f"{weights}/{k}": v for k, v in found.items()}
    return out
