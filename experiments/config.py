"""The resolved run config: schema, parsing of `key=value` overrides, validation and fingerprint.

A run config is a plain nested dict (what sacred records):
    {"method": "clip", "scale": "tiny", "seed": 0, "encoder": "ViT-Tiny-8-64",
     "train": {...}, "data": {...}, "eval": {...}, "<method>": {...its Config fields}}
Sections are the library's frozen dataclasses, so every default has one home and a docstring. Validation runs
before any work and raises ConfigError with a one-line message naming the key and the valid choices.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os

from methods import METHODS
from methods.evals import PATH_KEYS, EvalConfig, check_paths, check_sets
from methods.train import DataConfig, TrainConfig

from .errors import ConfigError
from .recipes import DEFAULT_RECIPE
from .recipes import official_fields as recipe_fields
from .recipes import overrides as recipe_overrides
from .scales import SCALES, scale_overrides

SECTIONS = {"train": TrainConfig, "data": DataConfig, "eval": EvalConfig}
TOP_LEVEL = {"method": str, "scale": str, "seed": int, "encoder": str, "checkpoint": str, "checkpoint_weights": str,
             "init": str, "recipe": str, "recipe_samples": int}
# recipe and recipe_samples act only through the values they set, so they stay out of the fingerprint.
TOP_LEVEL_DOCS = {
    "method": f"which method trains ({', '.join(METHODS)}); its Config fields are the <method>.* keys",
    "scale": f"the profile of sizes and steps ({', '.join(SCALES)}; experiments/scales.py)",
    "seed": "data order, initialisation and augmentation draws",
    "encoder": "an open_clip model name (e.g. ViT-B-16) or one of the suite's tiny configs",
    "checkpoint": "a local weights file -> an eval-only run (no training) of those weights in `encoder`",
    "checkpoint_weights": "which part of a checkpoint to evaluate: state_dict, student or teacher (a release file)",
    "init": "a COSMOS release file whose student and teacher start a training run (continued training)",
    "recipe": "the official recipe a paper-scale run follows (experiments/recipes.py; default cc3m)",
    "recipe_samples": "the training-set size, where the official code derives the steps from it (0: the recipe's)",
}
CHECKPOINT_WEIGHTS = ("state_dict", "student", "teacher")
# Keys that change how a run executes but not what it computes, and the locations of evaluation data (eval.paths:
# where a dataset lies, not what it is): excluded from the fingerprint. Records written before eval.paths existed
# hold each location as its own eval key (eval.coco_images, ...): those are excluded too, and still accepted on
# the command line as eval.paths.<key>.
# data.split: with one rank both splits read the same stream; with more, "samples" reproduces it exactly and
# "shards" draws other (equally distributed) batches of the same global size.
NON_SEMANTIC = {("data", "workers"), ("data", "split"), ("train", "ckpt_every"), ("train", "log_every"),
                ("train", "compile"),
                ("eval", "batch_size"), ("eval", "workers"), ("eval", "maps"), ("eval", "paths")} | \
    {("eval", k) for k in PATH_KEYS}
# Keys added after runs were logged, with the default that reproduces the old behaviour exactly: at that value
# they stay out of the fingerprint, so logged runs keep their identity (and are reused) when the schema grows.
# A method's own are its ADDED_DEFAULTS.
ADDED_KEYS = {("data", "augment"): "workers", ("train", "warmup_start"): 0.0, ("train", "tf32"): False,
              ("eval", "imagenet_templates"): "openai80", ("eval", "seg_names"): "dataset"} | \
    {(name, field): old for name, cls in METHODS.items() for field, old in cls.ADDED_DEFAULTS.items()}


def key_listing(method: str | None = None) -> str:
    """Every key with its default (the paper's value; a scale changes some) and its documentation: the shared
    sections, then the method's own (every method's when none is given)."""
    from .keys import describe

    top = {k: (defaults("clip")[k], TOP_LEVEL_DOCS[k]) for k in TOP_LEVEL}
    own = {m: cls.Config for m, cls in METHODS.items() if method in (None, m)}
    return describe(SECTIONS | own, top)


def _fields(cls) -> dict[str, object]:
    return {f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
            for f in dataclasses.fields(cls)}


def defaults(method: str) -> dict:
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid choices: {', '.join(METHODS)}")
    cfg = {"method": method, "scale": "tiny", "seed": 0, "encoder": "ViT-B-16", "checkpoint": "",
           "checkpoint_weights": "state_dict", "init": "", "recipe": "", "recipe_samples": 0}
    cfg |= {name: _fields(cls) for name, cls in SECTIONS.items()}
    cfg[method] = _fields(METHODS[method].Config)
    return cfg


def parse_value(key: str, text: str, default):
    """Parse a command-line string to the type of the field's default."""
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            try:
                items = json.loads(text) if text.startswith("[") else None
            except json.JSONDecodeError:  # [a,b] without quotes: a bracketed comma list
                items = None
            if items is None:
                items = [t.strip() for t in text.strip("[]").split(",") if t.strip()]
            kind = type(default[0]) if default else str
            return tuple(kind(x) if not isinstance(x, kind) else x for x in items)
        return text
    except (ValueError, TypeError):
        raise ConfigError(f"config key {key!r} expects {type(default).__name__}, got {text!r}") from None


def _check_type(key: str, value, default):
    ok = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int)
                                               and not isinstance(value, bool))
    if isinstance(default, tuple) and isinstance(value, list):
        value, ok = tuple(value), True
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, bool):
        ok = False
    if not ok:
        raise ConfigError(f"config key {key!r} expects {type(default).__name__}, got {value!r}")
    return float(value) if isinstance(default, float) else value


def apply(cfg: dict, key: str, value) -> None:
    """Set a dotted key in cfg, checking that it exists and that the value has the right type.

    A string for a non-string field is parsed (command-line `key=value`); anything else must have the type."""
    parts = key.split(".")
    if parts[0] == "eval" and len(parts) == 2 and parts[1] in PATH_KEYS:  # the older spelling of a location
        parts = ["eval", "paths", parts[1]]
    if parts[:2] == ["eval", "paths"] and len(parts) == 3:
        if parts[2] not in PATH_KEYS:
            raise ConfigError(f"unknown config key {key!r}; valid keys in 'eval.paths': {', '.join(PATH_KEYS)}")
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} expects a path (str), got {value!r}")
        cfg["eval"]["paths"][parts[2]] = value
        return
    if len(parts) == 1:
        if key not in TOP_LEVEL:
            valid = list(TOP_LEVEL) + [f"{s}.<field>" for s in cfg if isinstance(cfg[s], dict)]
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(valid)}")
        default = TOP_LEVEL[key]()
    elif len(parts) == 2 and isinstance(cfg.get(parts[0]), dict):
        section, field = parts
        if field not in cfg[section]:
            raise ConfigError(f"unknown config key {key!r}; valid keys in {section!r}: {', '.join(cfg[section])}")
        default = _fields(SECTIONS.get(section) or METHODS[cfg["method"]].Config)[field]
    else:
        sections = [s for s in cfg if isinstance(cfg[s], dict)]
        raise ConfigError(f"unknown config key {key!r}; valid sections: {', '.join(sections)}")
    text = isinstance(value, str) and not isinstance(default, str)
    value = parse_value(key, value, default) if text else _check_type(key, value, default)
    if len(parts) == 1:
        cfg[key] = value
    else:
        cfg[parts[0]][parts[1]] = value


def resolve(overrides: dict) -> dict:
    """defaults(method) <- scale profile <- overrides, validated. overrides use dotted keys."""
    overrides = dict(overrides)
    method = overrides.get("method", "clip")
    scale = overrides.get("scale", "tiny")
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; valid choices: {', '.join(SCALES)}")
    cfg = defaults(method)
    for key, value in scale_overrides(scale, method).items():
        apply(cfg, key, value)
    name = overrides.get("recipe") or (DEFAULT_RECIPE if scale == "paper" else "")
    if name and scale != "paper":
        raise ConfigError(f"recipe={name} sets the papers' full runs: it applies at scale=paper only")
    if name:
        samples = parse_value("recipe_samples", str(overrides.get("recipe_samples", 0)), 0)
        for key, value in recipe_overrides(name, method, samples).items():
            if key.split(".")[0] in cfg or "." not in key:  # another method's fields are not this run's
                apply(cfg, key, value)
        cfg["recipe"] = name
    for key, value in overrides.items():
        apply(cfg, key, value)
    validate(cfg)
    return cfg


def validate(cfg: dict) -> None:
    """Cross-field checks that need the whole config; each dataclass's own checks run here too."""
    import open_clip

    from methods.encoders import ZOO

    if cfg["encoder"] not in open_clip.list_models():
        raise ConfigError(f"unknown encoder {cfg['encoder']!r}; valid choices: {', '.join(ZOO)}")
    if cfg["checkpoint_weights"] not in CHECKPOINT_WEIGHTS:
        raise ConfigError(f"unknown checkpoint_weights {cfg['checkpoint_weights']!r}; valid choices: "
                          f"{', '.join(CHECKPOINT_WEIGHTS)}")
    if cfg["checkpoint"] and not os.path.isfile(cfg["checkpoint"]):
        raise ConfigError(f"checkpoint {cfg['checkpoint']!r} is not a file")
    if cfg.get("init") and not os.path.isfile(cfg["init"]):
        raise ConfigError(f"init {cfg['init']!r} is not a file")
    checks = {name: lambda cls=cls, name=name: cls(**cfg[name]) for name, cls in SECTIONS.items()}
    checks[cfg["method"]] = lambda: METHODS[cfg["method"]].Config(**cfg[cfg["method"]])
    checks["eval.sets"] = lambda: check_sets(cfg["eval"]["sets"])
    for section, check in checks.items():
        try:
            check()
        except (ValueError, TypeError) as exn:
            raise ConfigError(f"{section}: {exn}") from None
    if cfg["data"]["dataset"] not in ("scenes", "shards"):
        raise ConfigError(f"unknown data.dataset {cfg['data']['dataset']!r}; valid choices: scenes, shards")
    from methods.data.scenes import PRESETS

    if cfg["data"]["scenes"] not in PRESETS:
        raise ConfigError(f"unknown data.scenes {cfg['data']['scenes']!r}; valid choices: {', '.join(PRESETS)}")
    if cfg["data"]["dataset"] == "shards" and not cfg["data"]["shards"] and not cfg["checkpoint"]:
        raise ConfigError("data.dataset=shards needs data.shards=<folder of .tar or brace pattern>")


@functools.lru_cache(maxsize=8)
def _recaption_share(urls: tuple[str, ...]) -> tuple[int, int]:
    """recaption_share once per shard set (a manifest preflights every cell on the same shards)."""
    from methods.data.stream import recaption_share

    return recaption_share(list(urls))


def preflight(cfg: dict, runs_dir) -> None:
    """The filesystem checks of a validated config, before any work (no data generated, no run record made):
    the training shards exist, every evaluation data path exists, and runs_dir (its checkpoints/ too) is
    writable. A failure is a ConfigError naming the path."""
    import tempfile
    from pathlib import Path

    from methods.data.stream import expand_shards

    try:
        check_paths(section(cfg, "eval"))
        if cfg["data"]["dataset"] == "shards" and not cfg["checkpoint"]:
            urls = expand_shards(cfg["data"]["shards"])
            readers = max(cfg["data"]["workers"], 1) * int(os.environ.get("WORLD_SIZE", "1"))
            if len(urls) < readers and not cfg["data"]["resampled"]:
                raise ValueError(f"{len(urls)} shard(s) cannot feed {readers} readers (ranks x data.workers); use "
                                 "fewer data.workers, more shards, or data.resampled=true")
            need = METHODS[cfg["method"]].synthetic_captions_needed(method_config(cfg))
            if need:
                seen, recaptioned = _recaption_share(tuple(urls))
                if seen and not recaptioned:
                    raise ValueError(f"{cfg['method']}.{need} needs synthetic captions, but none of the "
                                     f"first {seen} records of data.shards has any (only raw alt-text); use "
                                     "shards in the DreamLIP/FLAIR or PixelProse layout, or another caption mode")
    except (ValueError, FileNotFoundError) as exn:
        raise ConfigError(str(exn)) from None
    folder = Path(runs_dir) / "checkpoints"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exn:
        raise ConfigError(f"runs dir {str(runs_dir)!r} is not writable ({exn.strerror or exn})") from None


def fingerprint(cfg: dict) -> str:
    """Hash of the resolved config minus non-semantic keys: equal fingerprints = the same experiment."""
    from methods.data.scenes import preset

    def kept(k, f, v):
        return (k, f) not in NON_SEMANTIC and ADDED_KEYS.get((k, f), object()) != v

    sem = {k: ({f: v for f, v in val.items() if kept(k, f, v)} if isinstance(val, dict) else val)
           for k, val in cfg.items()}
    if cfg.get("checkpoint"):  # an eval-only run: what is evaluated is the file's content, wherever it lies
        sem = {"checkpoint_sha256": file_sha256(cfg["checkpoint"]), "checkpoint_weights": cfg["checkpoint_weights"],
               "encoder": cfg["encoder"], "method": cfg["method"], "eval": sem["eval"]}
        return hashlib.sha256(json.dumps(sem, sort_keys=True, default=list).encode()).hexdigest()[:16]
    sem.pop("checkpoint", None)
    sem.pop("checkpoint_weights", None)
    sem.pop("recipe", None)
    sem.pop("recipe_samples", None)
    if cfg.get("init"):  # the starting weights are the file's content, wherever it lies
        sem["init"] = file_sha256(cfg["init"])
    else:
        sem.pop("init", None)  # added after runs were logged: absent = a run from scratch
    if cfg["data"]["dataset"] == "scenes":  # the generated data itself (settings + generator version)
        sem["scenes_fingerprint"] = preset(cfg["data"]["scenes"]).fingerprint()
    return hashlib.sha256(json.dumps(sem, sort_keys=True, default=list).encode()).hexdigest()[:16]


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def method_config(cfg: dict):
    """The method's frozen Config instance (lists from JSON turned back into tuples)."""
    cls = METHODS[cfg["method"]].Config
    d = _fields(cls)
    return cls(**{k: tuple(v) if isinstance(d[k], tuple) else v for k, v in cfg[cfg["method"]].items()})


def get(cfg: dict, key: str):
    """The value of a dotted key in a resolved config."""
    parts = key.split(".")
    return cfg[key] if len(parts) == 1 else cfg[parts[0]][parts[1]]


def section(cfg: dict, name: str):
    cls = SECTIONS[name]
    d = _fields(cls)
    values = dict(cfg[name])
    if name == "eval":  # a record from before eval.paths: its locations were eval keys of their own
        values["paths"] = dict(values.get("paths") or {}) | {k: values.pop(k) for k in PATH_KEYS if k in values}
    return cls(**{k: tuple(v) if isinstance(d[k], tuple) else v for k, v in values.items()})


def recipe_audit(name: str, method: str, cfg: dict, samples: int = 0) -> list[tuple[str, object, object, str, bool]]:
    """(key, resolved value, official value, source, equal) for every audited field of a resolved config."""
    rows = []
    for key, (official, source) in recipe_fields(name, method, samples).items():
        value = get(cfg, key)
        same = tuple(value) == tuple(official) if isinstance(official, tuple) else value == official
        rows.append((key, value, official, source, bool(same)))
    return rows
