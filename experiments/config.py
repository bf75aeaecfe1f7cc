"""The run config: one structured schema, resolved in one place, validated once.

A run config is one frozen, typed RunConfig: the top-level keys (method, scale, seed, encoder, ...) and the
sections `train`, `data`, `eval` and `<method>`, which are the library's frozen dataclasses themselves
(TrainConfig, DataConfig, EvalConfig, the method's Config: every default has one home and a docstring).
Everything reads it by attribute (`run.train.steps`, `run.method_config`).

    resolve(overrides) -> RunConfig    defaults <- scale profile <- recipe <- overrides, validated once; a manifest
                                       cell is resolved by the same function
    run.to_dict()                      the plain nested dict sacred records (config.json) and the fingerprint hashes
    typed(recorded_dict) -> RunConfig  a recorded config back in typed form: what a run builds from, once
    run.derived                        what a rule derives from the config at run time (the horizon rule's teacher
                                       momentum): printed by `run.py config`, never recorded

The schema is an OmegaConf structured config over those dataclasses, which types every `key=value` (a string
becomes the field's int, float, bool or tuple, or an error naming the key). Errors are ConfigError, one line naming
the key and the valid choices, before any work.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
from collections.abc import Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf, TupleConfig
from omegaconf.errors import OmegaConfBaseException

from methods import METHODS
from methods.data.scenes import PRESETS
from methods.encoders import (CONFIG_FILE, MAX_CONTEXT, NORMALISATIONS, TEXT_ACTIVATIONS, ZOO, known_encoder,
                              local_dir, read_model_config)
from methods.evals import PATH_KEYS, EvalConfig, check_sets
from methods.train import DataConfig, TrainConfig

from . import preflight as _preflight
from .errors import ConfigError
from .fingerprint import ADDED_KEYS, NON_SEMANTIC, file_sha256, fingerprint  # noqa: F401 (the config's API)
from .recipes import DEFAULT_RECIPE
from .recipes import official_fields as recipe_fields
from .recipes import overrides as recipe_overrides
from .scales import BENCHMARKS, LEGACY_BENCHMARK, SCALES, TINY_BENCHMARK, benchmark_overrides, scale_overrides

SECTIONS = {"train": TrainConfig, "data": DataConfig, "eval": EvalConfig}
# recipe and recipe_samples act only through the values they set, so they stay out of the fingerprint.
TOP_LEVEL = {  # key: (default, documentation)
    "method": ("clip", f"which method trains ({', '.join(METHODS)}); its Config fields are the <method>.* keys"),
    "scale": ("tiny", f"the profile of sizes and steps ({', '.join(SCALES)}; experiments/scales.py)"),
    "seed": (0, "data order, initialisation and augmentation draws"),
    "encoder": ("ViT-B-16", "an open_clip model name (e.g. ViT-B-16) or one of the suite's tiny configs"),
    "context_length": (0, "the text context in tokens (0: the encoder's own; scales.context_rule sizes it to a "
                          "benchmark's captions)"),
    "text_act": ("gelu", "the text tower's MLP activation: gelu, or quick_gelu (SLIP's text Transformer; the image "
                         "tower keeps its own)"),
    "image_norm": ("openai", "the images' normalisation mean/std in training and every evaluator: openai (CLIP's), "
                             "imagenet (SLIP) or inception"),
    "checkpoint": ("", "a local weights file -> an eval-only run (no training) of those weights in `encoder`"),
    "checkpoint_weights": ("state_dict", "which part of a checkpoint to evaluate: state_dict, student or teacher "
                                         "(a release file)"),
    "init": ("", "weights a training run starts from: a COSMOS release file (student and teacher), or an open_clip / "
                 "Hugging Face folder, .safetensors or state dict (the encoders; a teacher starts as their copy)"),
    "benchmark": ("", "the synthetic benchmark's version and the scale-down rules a tiny run follows with it (default "
                      "at tiny: v5, docs/benchmark.md; v4: the earlier history; experiments/scales.py BENCHMARKS); "
                      "other scales have none"),
    "recipe": ("", "the official recipe a paper-scale run follows (experiments/recipes.py; default cc3m)"),
    "recipe_samples": (0, "the training-set size, where the official code derives the steps from it (0: the "
                          "recipe's)"),
}
CHECKPOINT_WEIGHTS = ("state_dict", "student", "teacher")
DATASETS = ("scenes", "shards")


class RunConfig:
    """What every method's run config has besides its fields (schema(method) makes the frozen dataclass)."""

    method: str

    @property
    def method_config(self):
        """The method's own frozen Config (the `<method>` section)."""
        return getattr(self, self.method)

    def to_dict(self) -> dict:
        """The plain nested dict of this config (tuples as lists): what sacred records and the fingerprint hashes."""
        return OmegaConf.to_container(OmegaConf.structured(self))

    def value(self, key: str):
        """The value of a dotted key (`train.steps`, `cosmos.local_crops`, `seed`)."""
        return functools.reduce(getattr, key.split("."), self)

    @property
    def derived(self) -> dict:
        """Dotted key -> the value a rule derives from this config when the run starts (e.g. the horizon rule's
        teacher momentum at this run's length); empty when no rule applies. Not part of the record."""
        own = METHODS[self.method].derived(self.method_config, self.train)
        return {f"{self.method}.{k}": v for k, v in own.items()}

    def __reduce__(self):  # the class is made per method at run time: pickle (to a worker process) by value
        return typed, (self.to_dict(),)


@functools.lru_cache(maxsize=None)
def schema(method: str) -> type:
    """The frozen RunConfig dataclass of `method`: the top-level keys, the shared sections and the method's own
    Config under its name (`run.method_config` is that section)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid choices: {', '.join(METHODS)}")
    fields = [(k, type(default), default) for k, (default, _) in TOP_LEVEL.items()]
    fields += [(name, cls, dataclasses.field(default_factory=cls))
               for name, cls in (SECTIONS | {method: METHODS[method].Config}).items()]
    return dataclasses.make_dataclass(
        f"RunConfig_{method}", fields, bases=(RunConfig,), frozen=True,
        namespace={"__doc__": f"A resolved {method} run config: TOP_LEVEL keys and typed sections.",
                   "__module__": __name__})


@functools.lru_cache(maxsize=None)
def _defaults_node(method: str) -> DictConfig:
    """`method`'s defaults as a structured config, made once per process (it constructs each section once)."""
    node = OmegaConf.structured(schema(method))
    for name in node:
        if isinstance(node[name], DictConfig):
            OmegaConf.set_readonly(node[name], False)
    OmegaConf.set_readonly(node, False)
    return node


def _node(method: str) -> DictConfig:
    """A writable structured config of `method`'s defaults (a copy: OmegaConf marks frozen sections read-only)."""
    return copy.deepcopy(_defaults_node(method))


def defaults(method: str) -> dict:
    return OmegaConf.to_container(_node(method))


def key_listing(method: str | None = None) -> str:
    """Every key with its default (the paper's value; a scale changes some) and its documentation: the shared
    sections, then the method's own (every method's when none is given)."""
    from .keys import describe

    own = {m: cls.Config for m, cls in METHODS.items() if method in (None, m)}
    return describe(SECTIONS | own, TOP_LEVEL)


def _list(text: str) -> list:
    """A command-line list: JSON (`["a", "b"]`), or bracketed / bare comma-separated items (`[a,b]`, `a,b`)."""
    if text.startswith("["):
        try:
            return list(json.loads(text))
        except json.JSONDecodeError:
            pass
    return [t.strip() for t in text.strip("[]").split(",") if t.strip()]


def apply(node: DictConfig, key: str, value) -> None:
    """Set a dotted key, checking that it exists; OmegaConf types the value (a string is parsed to the field's
    type, as on the command line)."""
    parts = key.split(".")
    if parts[0] == "eval" and len(parts) == 2 and parts[1] in PATH_KEYS:  # the older spelling of a location
        parts = ["eval", "paths", parts[1]]
    if parts[:2] == ["eval", "paths"] and len(parts) == 3:
        if parts[2] not in PATH_KEYS:
            raise ConfigError(f"unknown config key {key!r}; valid keys in 'eval.paths': {', '.join(PATH_KEYS)}")
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} expects a path (str), got {value!r}")
    elif len(parts) == 1:
        if key not in TOP_LEVEL:
            valid = list(TOP_LEVEL) + [f"{s}.<field>" for s in node if isinstance(node[s], DictConfig)]
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(valid)}")
    elif len(parts) == 2 and isinstance(node.get(parts[0]), DictConfig):
        if parts[1] not in node[parts[0]]:
            raise ConfigError(f"unknown config key {key!r}; valid keys in {parts[0]!r}: "
                              f"{', '.join(node[parts[0]])}")
    else:
        sections = [s for s in node if isinstance(node[s], DictConfig)]
        raise ConfigError(f"unknown config key {key!r}; valid sections: {', '.join(sections)}")
    dotted = ".".join(parts)
    current = OmegaConf.select(node, dotted)
    if isinstance(current, (ListConfig, TupleConfig)) and isinstance(value, str):
        value = _list(value)
    try:
        OmegaConf.update(node, dotted, value, merge=False)
    except OmegaConfBaseException:
        kind = "tuple" if isinstance(current, (ListConfig, TupleConfig)) else type(current).__name__
        raise ConfigError(f"config key {key!r} expects {kind}, got {value!r}") from None


def resolve(overrides: dict) -> RunConfig:
    """defaults(method) <- scale profile <- recipe <- overrides, validated; the typed RunConfig, built once.
    overrides use dotted keys."""
    overrides = dict(overrides)
    method = overrides.get("method", "clip")
    scale = overrides.get("scale", "tiny")
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; valid choices: {', '.join(SCALES)}")
    node = _node(method)
    for key, value in scale_overrides(scale, method).items():
        apply(node, key, value)
    bench = overrides.get("benchmark") or (TINY_BENCHMARK if scale == "tiny" else "")
    if bench and bench not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {bench!r}; valid choices: {', '.join(BENCHMARKS)}")
    if bench and scale != "tiny":
        raise ConfigError(f"benchmark={bench} sets the tiny scale's data and rules: it applies at scale=tiny only")
    for key, value in benchmark_overrides(bench, method, overrides).items() if bench else ():
        apply(node, key, value)
    overrides["benchmark"] = bench  # the version a run was made on, in its record (not in its fingerprint)
    name = overrides.get("recipe") or (DEFAULT_RECIPE if scale == "paper" else "")
    if name and scale != "paper":
        raise ConfigError(f"recipe={name} sets the papers' full runs: it applies at scale=paper only")
    if name:
        apply(node, "recipe_samples", overrides.get("recipe_samples", 0))
        for key, value in recipe_overrides(name, method, node.recipe_samples).items():
            if key.split(".")[0] in node or "." not in key:  # another method's fields are not this run's
                apply(node, key, value)
        node.recipe = name
    for key, value in overrides.items():
        apply(node, key, value)
    run = _build(node)
    validate(run)
    return run


def _upgrade(cfg: dict) -> dict:
    """A recorded config in today's spelling: locations that records from before eval.paths hold as eval keys of
    their own move into eval.paths; a tiny record without `benchmark` was made on v4."""
    if "benchmark" not in cfg and cfg.get("scale") == "tiny":  # recorded before the key existed: made on v4
        cfg = cfg | {"benchmark": LEGACY_BENCHMARK}
    ev = dict(cfg["eval"])
    moved = {k: ev.pop(k) for k in PATH_KEYS if k in ev}
    if moved:
        ev["paths"] = dict(ev.get("paths") or {}) | moved
        cfg = cfg | {"eval": ev}
    return cfg


def _plain(obj):
    """Plain dicts and lists all the way down (sacred hands its config over as read-only containers)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def typed(cfg: Mapping) -> RunConfig:
    """The RunConfig of a recorded config (a dict: config.json, sacred's config): its sections are the library's
    frozen dataclasses (their own checks run here). What a run builds from, once."""
    node = _node(cfg["method"])
    try:
        node.merge_with(_upgrade(_plain(cfg)))
    except OmegaConfBaseException as exn:
        raise ConfigError(f"config does not fit the {cfg['method']} schema: {str(exn).splitlines()[0]}") from None
    return _build(node)


def _dotted(section: str, fields, message: str) -> str:
    """A section's check failure as the user typed the key: "steps=-5 must be > 0" -> "train.steps=-5 must be
    > 0"; a message that names no field keeps the section in front ("train: unknown precision ...")."""
    field = message.split("=", 1)[0]
    return f"{section}.{message}" if "=" in message and field in fields else f"{section}: {message}"


def _build(node: DictConfig):
    """The frozen RunConfig of a structured config; a section's own check failing is a ConfigError naming it."""
    values = {k: node[k] for k in TOP_LEVEL}
    for name in (*SECTIONS, node.method):
        try:
            values[name] = OmegaConf.to_object(node[name])
        except (ValueError, TypeError) as exn:
            raise ConfigError(_dotted(name, node[name], str(exn))) from None
    return schema(node.method)(**values)


def validate(run: RunConfig) -> None:
    """Cross-field checks that need the whole config (each section's own checks ran when it was built)."""

    if not known_encoder(run.encoder):
        raise ConfigError(f"unknown encoder {run.encoder!r}; valid choices: {', '.join(ZOO)} (or any open_clip "
                          "name, or local-dir:FOLDER holding an open_clip_config.json)")
    if local_dir(run.encoder):  # a folder's config is data: checked before anything is built
        try:
            read_model_config(local_dir(run.encoder) / CONFIG_FILE)
        except ValueError as exn:
            raise ConfigError(f"encoder={run.encoder}: {exn}") from None
    if not 0 <= run.context_length <= MAX_CONTEXT:
        raise ConfigError(f"context_length={run.context_length} must lie in [0, {MAX_CONTEXT}] tokens "
                          "(0: the encoder's own)")
    if run.train.accum_freq > 1 and not METHODS[run.method].accumulates():
        able = ", ".join(m for m, cls in METHODS.items() if cls.accumulates())
        raise ConfigError(f"train.accum_freq={run.train.accum_freq}: {run.method}'s loss couples samples beyond "
                          f"per-sample features, so accumulation cannot give one big batch's gradient; methods that "
                          f"accumulate: {able}")
    if run.train.batch_size % run.train.accum_freq:
        raise ConfigError(f"train.accum_freq={run.train.accum_freq} must divide train.batch_size="
                          f"{run.train.batch_size}")
    if run.text_act not in TEXT_ACTIVATIONS:
        raise ConfigError(f"unknown text_act {run.text_act!r}; valid choices: {', '.join(TEXT_ACTIVATIONS)}")
    if run.image_norm not in NORMALISATIONS:
        raise ConfigError(f"unknown image_norm {run.image_norm!r}; valid choices: {', '.join(NORMALISATIONS)}")
    if not 0 <= run.seed < 2**32:  # numpy's and the data workers' seeds are 32-bit
        raise ConfigError(f"seed={run.seed} must lie in [0, 2**32)")
    if run.checkpoint_weights not in CHECKPOINT_WEIGHTS:
        raise ConfigError(f"unknown checkpoint_weights {run.checkpoint_weights!r}; valid choices: "
                          f"{', '.join(CHECKPOINT_WEIGHTS)}")
    if run.checkpoint and not os.path.isfile(run.checkpoint) and not os.path.isdir(run.checkpoint):
        raise ConfigError(f"checkpoint {run.checkpoint!r} is neither a file nor an open_clip / Hugging Face folder")
    if run.init and not os.path.isfile(run.init) and not os.path.isdir(run.init):
        raise ConfigError(f"init {run.init!r} is neither a file nor an open_clip / Hugging Face folder")
    try:
        check_sets(run.eval.sets, run.eval.other_weights)
    except ValueError as exn:
        raise ConfigError(f"eval.sets: {exn}") from None
    if run.data.dataset not in DATASETS:
        raise ConfigError(f"unknown data.dataset {run.data.dataset!r}; valid choices: {', '.join(DATASETS)}")
    if run.data.scenes not in PRESETS:
        raise ConfigError(f"unknown data.scenes {run.data.scenes!r}; valid choices: {', '.join(PRESETS)}")


def preflight(run: RunConfig, runs_dir) -> None:
    """The filesystem checks of a validated config, before any work (experiments/preflight.py)."""
    _preflight.preflight(run, runs_dir)


def recipe_audit(name: str, method: str, run: RunConfig, samples: int = 0
                 ) -> list[tuple[str, object, object, str, bool]]:
    """(key, resolved value, official value, source, equal) for every audited field of a resolved config."""
    rows = []
    for key, (official, source) in recipe_fields(name, method, samples).items():
        value = run.value(key)
        same = tuple(value) == tuple(official) if isinstance(official, tuple) else value == official
        rows.append((key, value, official, source, bool(same)))
    return rows
