"""Checkpoint interop with open_clip and the official COSMOS release.

- Encoders: load open_clip / Hugging Face folder / safetensors / COSMOS-release / suite weights into our encoders
  (`load_into`), and export any trained method's evaluation weights as a folder (open_clip_config.json +
  open_clip_model.safetensors) that open_clip loads with `create_model("local-dir:<folder>")`.
- The COSMOS release, both ways (`load_release`, `export_release`): a file {"epoch", "name", "student", "teacher"}
  of the official model's state dicts (student keys with DDP's "module." prefix) maps onto every part of a
  COSMOS method (encoders, cross-attention pools, token mappings, distillation temperature; student and EMA
  teacher), for evaluation or continued training, and a trained COSMOS run exports to that layout, which the
  official `load_state_dict(strict=True)` accepts.

Loading is strict: a missing or unexpected key raises a CheckpointError naming the keys (never a silent
strict=False), and every file is read with torch.load(weights_only=True).
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from .checkpoint import load
from .cosmos import RELEASE_NAMES, RELEASE_XATTN
from .encoders import CONFIG_FILE, LOCAL_DIR, NORMALISATIONS, Encoders, local_dir, normalisation_name
from .encoders.local_config import read_model_config
from .errors import CheckpointError

WEIGHTS_FILE = "open_clip_model.safetensors"
# The weights file of an open_clip / Hugging Face folder, in open_clip's order of preference.
FOLDER_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
                  "model.safetensors", "pytorch_model.bin")
_PREFIXES = ("module.", "model.", "encoders.model.")


def weights_file(path: str | Path) -> Path:
    """The weights file a checkpoint path names: the file itself, or an open_clip / Hugging Face folder's weights
    (FOLDER_WEIGHTS, the first present)."""
    path = Path(path)
    if path.is_dir():
        found = [path / n for n in FOLDER_WEIGHTS if (path / n).is_file()]
        if not found:
            raise CheckpointError(f"folder {path} holds no weights file (one of {', '.join(FOLDER_WEIGHTS)})")
        return found[0]
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def _load_any(path: Path):
    """A checkpoint file's content: safetensors by their format, anything else by checkpoint.load (weights only)."""
    if path.suffix != ".safetensors":
        return load(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exn:
        raise CheckpointError(f"unreadable safetensors file {path}: {str(exn).splitlines()[0][:200]}") from None


def checkpoint_encoder(path: str | Path) -> dict | None:
    """The encoder settings a checkpoint names, so an evaluation needs no `encoder=`: {"encoder", "context_length",
    "text_act", "image_norm"} (top-level run-config keys). An open_clip / HF folder is `local-dir:<folder>` with its
    own config (its preprocess_cfg's mean/std named, or an error for constants the suite does not name); a suite
    checkpoint records all four (older ones the first two: the others were fixed then). None for other files."""
    path = Path(path)
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        pre = _read_config(path / CONFIG_FILE).get("preprocess_cfg", {})
        mean, std = pre.get("mean", OPENAI_DATASET_MEAN), pre.get("std", OPENAI_DATASET_STD)
        norm = normalisation_name(mean, std)
        if norm is None:
            raise CheckpointError(f"{path / CONFIG_FILE}: preprocess_cfg mean {list(mean)} / std {list(std)} is "
                                  f"none of the normalisations the suite names ({', '.join(NORMALISATIONS)})")
        return {"encoder": f"{LOCAL_DIR}{path.resolve()}", "context_length": 0, "text_act": "gelu",
                "image_norm": norm}
    if path.is_file() and path.suffix in (".pt", ".pth", ".bin"):
        ckpt = _metadata(path)
        if isinstance(ckpt, dict) and isinstance(ckpt.get("encoder"), str):
            return {"encoder": ckpt["encoder"], "context_length": int(ckpt.get("context_length", 0)),
                    "text_act": ckpt.get("text_act", "gelu"), "image_norm": ckpt.get("image_norm", "openai")}
    return None


def _read_config(path: Path) -> dict:
    try:
        return read_model_config(path)
    except ValueError as exn:
        raise CheckpointError(str(exn)) from None


def _metadata(path: Path):
    """A checkpoint's content with its tensors memory-mapped, not read (a start-up look at its keys costs no
    weights' I/O); None when the file is not a zip-format torch checkpoint or cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - a legacy or garbage file: the real load reports it by name
        return None


def read_state_dict(path: str | Path, which: str = "state_dict") -> dict[str, torch.Tensor]:
    """A CLIP state dict from a local file or folder: a plain state dict (open_clip; .safetensors too), an
    open_clip / Hugging Face folder (FOLDER_WEIGHTS), {"state_dict": ...} (open_clip training checkpoints),
    {"student": ..., "teacher": ...} (COSMOS release; `which` picks one), or this suite's own training checkpoint
    (runs/checkpoints/<fingerprint>/last.pt; student encoders, or the EMA teacher's with which="teacher").
    DDP / wrapper prefixes ("module.", "model.") are stripped."""
    path = weights_file(path)
    ckpt = _load_any(path)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a state dict")
    if isinstance(ckpt, dict) and "model" in ckpt and "optimizer" in ckpt:  # this suite's training checkpoint
        _require_state_dict(ckpt["model"], f"{path} ('model')")
        prefix = "teacher.module.encoders.model." if which == "teacher" else "encoders.model."
        state = {k[len(prefix):]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}
        if not state:
            raise CheckpointError(f"{path}: a suite checkpoint without {which} weights (keys starting {prefix!r})")
        return state
    if isinstance(ckpt, dict) and which in ckpt and isinstance(ckpt[which], dict):
        ckpt = ckpt[which]
    elif isinstance(ckpt, dict) and "state_dict" in ckpt:
        ckpt = ckpt["state_dict"]
    elif isinstance(ckpt, dict) and {"student", "teacher"} & set(ckpt):
        raise CheckpointError(f"{path} holds {sorted(k for k in ckpt if k in ('student', 'teacher'))}; pass "
                              "checkpoint_weights=student or checkpoint_weights=teacher")
    _require_state_dict(ckpt, str(path))
    out = {}
    for k, v in ckpt.items():
        for p in _PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v
    # the COSMOS release's own layers (cross-attention, token mappings, distillation temperature) are not part
    # of the encoders: evaluation never uses them (load_release maps them into a COSMOS method)
    return {k: v for k, v in out.items() if not k.startswith(tuple(RELEASE_NAMES))}


def _require_state_dict(sd, where: str) -> None:
    """A state dict: a dict of str -> tensor; else a CheckpointError naming where (never an AttributeError)."""
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise CheckpointError(f"{where} is not a state dict (name -> tensor)")


def _same_kinds(given: dict, expected: dict, where: str) -> None:
    """Every tensor has its target's kind of dtype (a complex or integer tensor never loads silently into a real
    weight by a cast)."""
    def kind(t):
        return "complex" if t.is_complex() else "float" if t.is_floating_point() else "integer"

    bad = [k for k, v in expected.items() if k in given and kind(given[k]) != kind(v)]
    if bad:
        raise CheckpointError(f"{where}: {kind(given[bad[0]])} tensors where {kind(expected[bad[0]])} weights go "
                              f"({', '.join(bad[:5])})")


def _rename(key: str, names: dict[str, str], inner: dict[str, str]) -> str | None:
    """key with its first matching prefix of `names` (old -> new) replaced, and inside a cross-attention pool its
    sublayer prefix by `inner`; None when no prefix matches."""
    for old, new in names.items():
        if key.startswith(old):
            rest = key[len(old):]
            for a, b in (inner.items() if "xattn" in old + new else ()):
                if rest.startswith(a):
                    return new + b + rest[len(a):]
            return new + rest
    return None


def _release_to_suite(key: str) -> str:
    """One official model key -> the COSMOS method's key (relative to the student or the teacher's module)."""
    return _rename(key, RELEASE_NAMES, RELEASE_XATTN) or "encoders.model." + key


def _suite_to_release(key: str) -> str | None:
    """The inverse of _release_to_suite for a COSMOS part key; None for keys the release has not."""
    if key.startswith("encoders.model."):
        return key[len("encoders.model."):]
    inverse = lambda d: {b: a for a, b in d.items()}  # noqa: E731
    return _rename(key, inverse(RELEASE_NAMES), inverse(RELEASE_XATTN))


def _release_states(path: Path) -> tuple[dict, dict]:
    ckpt = load(path)
    if not (isinstance(ckpt, dict) and isinstance(ckpt.get("student"), dict)
            and isinstance(ckpt.get("teacher"), dict)):
        raise CheckpointError(f"{path} is not a COSMOS release file (a dict with 'student' and 'teacher' state dicts)")
    for part in ("student", "teacher"):
        _require_state_dict(ckpt[part], f"{path} ({part})")
    strip = lambda sd: {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}  # noqa: E731
    return strip(ckpt["student"]), strip(ckpt["teacher"])


def release_state_dict(method) -> dict[str, dict[str, torch.Tensor]]:
    """{"student": official-named tensors, "teacher": ...} of a COSMOS method (the release layout's content)."""
    own = method.state_dict()
    out = {"student": {}, "teacher": {}}
    for key, value in own.items():
        part, rel = ("teacher", key[len("teacher.module."):]) if key.startswith("teacher.module.") else ("student", key)
        theirs = _suite_to_release(rel)
        if theirs is not None:
            out[part][theirs] = value.detach().cpu()
    return out


def load_release(method, path: str | Path) -> None:
    """Load a COSMOS release file strictly into every part of a COSMOS method (student and EMA teacher): for
    evaluation (either weights) or continued training. Keys are compared in the release's own names."""
    path = Path(path)
    if not method.release_layout:
        raise CheckpointError(f"{path}: a COSMOS release loads into method=cosmos with distillation on and the "
                              "softmax image-text term (cosmos.contrastive=softmax)")
    student, teacher = _release_states(path)
    expected = release_state_dict(method)
    for part, given in (("student", student), ("teacher", teacher)):
        missing = sorted(set(expected[part]) - set(given))
        unexpected = sorted(set(given) - set(expected[part]))
        if missing or unexpected:
            raise CheckpointError(f"{path} ({part}) does not match this COSMOS model ({method.encoders.name}, "
                                  f"switches as configured): {_key_diff(missing, unexpected)}")
        bad = [k for k, v in given.items() if v.shape != expected[part][k].shape]
        if bad:
            raise CheckpointError(f"{path} ({part}): shape mismatch for {bad[:10]}")
        _same_kinds(given, expected[part], f"{path} ({part})")
    own_keys = set(method.state_dict())
    state = {_release_to_suite(k): v for k, v in student.items()}
    state |= {"teacher.module." + _release_to_suite(k): v for k, v in teacher.items()}
    rest = own_keys - set(state)  # buffers the release does not hold (none for COSMOS): keep the method's own
    state |= {k: v for k, v in method.state_dict().items() if k in rest}
    method.load_state_dict(state, strict=True)


def load_init(method, path: str | Path) -> None:
    """Start a training run from `path`: a COSMOS release file loads into every part of a COSMOS method (student
    and teacher, `load_release`); any other checkpoint (open_clip / Hugging Face folder, .safetensors, state dict)
    loads into the encoders, and an EMA teacher starts as a copy of that student."""
    path = Path(path)
    if path.is_file() and path.suffix != ".safetensors":
        ckpt = _metadata(path)
        if isinstance(ckpt, dict) and isinstance(ckpt.get("student"), dict) and isinstance(ckpt.get("teacher"), dict):
            return load_release(method, path)
    load_into(method.encoders, path)
    if hasattr(method, "teacher"):
        method.teacher.update(method.student, 0.0)  # momentum 0: the teacher becomes the loaded student


def export_release(method, path: str | Path, name: str = "cosmos-suite", epoch: int = 0) -> Path:
    """Write a COSMOS method in the release layout: {"epoch", "name", "student" (keys prefixed "module.", as saved
    from DDP), "teacher"}; the official code's resume path strips the prefix and loads both strictly."""
    from .checkpoint import save_atomic

    states = release_state_dict(method)
    path = Path(path)
    save_atomic({"epoch": epoch, "name": name, "student": {f"module.{k}": v for k, v in states["student"].items()},
                 "teacher": states["teacher"]}, path)
    return path


def _key_diff(missing: list[str], unexpected: list[str]) -> str:
    more = lambda keys: " ..." if len(keys) > 10 else ""  # noqa: E731
    return f"missing {missing[:10]}{more(missing)}, unexpected {unexpected[:10]}{more(unexpected)}"


def load_into(encoders: Encoders, path: str | Path, which: str = "state_dict") -> None:
    """Load a checkpoint into `encoders` strictly; a key mismatch raises naming the missing / unexpected keys."""
    state = read_state_dict(path, which)
    own = encoders.model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not match encoder {encoders.name}: "
                              f"{_key_diff(missing, unexpected)}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(f"checkpoint {path}: shape mismatch for {bad[:10]}")
    _same_kinds(state, own, f"checkpoint {path}")
    encoders.model.load_state_dict(state, strict=True)


def model_config(encoders: Encoders) -> dict:
    """The open_clip model config of `encoders` as built (a `context_length` override included)."""
    folder = local_dir(encoders.name)
    model_cfg = json.loads((folder / CONFIG_FILE).read_text())["model_cfg"] if folder else \
        open_clip.get_model_config(encoders.name)
    model_cfg = json.loads(json.dumps(model_cfg))  # a copy
    model_cfg.setdefault("text_cfg", {})["context_length"] = encoders.context_length
    if encoders.logit_bias is not None:  # the sigmoid loss's bias: open_clip makes the parameter from this key
        model_cfg["init_logit_bias"] = float(encoders.logit_bias.detach())
    return model_cfg


def export_open_clip(method, out_dir: str | Path) -> Path:
    """Write the method's evaluation weights (student or teacher, as configured) as an open_clip folder:
    open_clip_config.json (model and preprocessing config) + open_clip_model.safetensors."""
    from safetensors.torch import save_file

    enc = method.eval_encoders()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if enc.text_act == "quick_gelu" and not model_config(enc).get("quick_gelu"):
        raise CheckpointError("export: a QuickGELU text tower beside a GELU image tower (text_act=quick_gelu) has no "
                              "open_clip config (its quick_gelu switches both towers); the suite's checkpoint keeps "
                              "it: evaluate with `run.py eval checkpoint=...`")
    cfg = {"model_cfg": model_config(enc),
           "preprocess_cfg": {"mean": list(enc.image_mean), "std": list(enc.image_std),
                              "interpolation": "bicubic", "resize_mode": "shortest"}}
    (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=1))
    save_file({k: v.detach().cpu().contiguous() for k, v in enc.model.state_dict().items()}, out / WEIGHTS_FILE)
    return out


def method_from_checkpoint(path: str | Path, ckpt: dict | None = None):
    """The method a suite training checkpoint holds (it records method, config, encoder and context; checkpoints
    written before it did need their run's config: `run.py export runs/<id>`). `ckpt`: the file's content when
    the caller has read it already."""
    import dataclasses

    from . import METHODS, build_method

    ckpt = load(Path(path)) if ckpt is None else ckpt
    if not (isinstance(ckpt, dict) and "model" in ckpt and isinstance(ckpt.get("method"), str)):
        raise CheckpointError(f"{path} is not a suite training checkpoint that records its method (pass the run's "
                              "folder, runs/<id>, instead)")
    cls = METHODS[ckpt["method"]].Config
    known = {f.name for f in dataclasses.fields(cls)}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["method_config"].items() if k in known}
    method = build_method(ckpt["method"], cls(**fields), ckpt["encoder"], ckpt.get("context_length", 0),
                          ckpt.get("text_act", "gelu"), ckpt.get("image_norm", "openai"))
    method.load_state_dict(ckpt["model"])
    return method
