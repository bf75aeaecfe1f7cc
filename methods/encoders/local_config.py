"""An open_clip / Hugging Face model folder's `open_clip_config.json` read as data: checked before any tensor is built.

A config decides what gets allocated (width 1e6 or a vocabulary of 1e10 ask for terabytes; 1e5 layers build for
minutes before failing), so it is read under limits: a file size, a nesting depth, the shape of `model_cfg`, every
size an integer in a range, and an estimate of the parameters' memory against the machine's. A bad config is one
ValueError line naming the file and the field; nothing is built.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_CONFIG_BYTES = 1 << 20  # a model config is a few hundred bytes; 1 MiB is far above any real one
MAX_DEPTH = 32  # nesting levels of the JSON (open_clip's configs use 3)
# field -> (smallest, largest) for the integer sizes open_clip reads; far above ViT-bigG (width 1664, 48 layers)
_VISION = {"image_size": (8, 4096), "layers": (1, 256), "width": (8, 16384), "patch_size": (1, 1024),
           "head_width": (1, 16384)}
_TEXT = {"context_length": (1, 4096), "vocab_size": (1, 1_000_000), "width": (8, 16384), "heads": (1, 512),
         "layers": (1, 256)}
_OUTSIDE = {"timm_model_name": "a timm image tower", "hf_model_name": "a Hugging Face text tower"}


def _depth(x, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(x, dict):
        return max([_depth(v, level + 1) for v in x.values()], default=level + 1)
    if isinstance(x, list):
        return max([_depth(v, level + 1) for v in x], default=level + 1)
    return level


def _int_field(cfg: dict, key: str, bounds: tuple[int, int], where: str) -> int | None:
    if key not in cfg:
        return None
    v = cfg[key]
    lo, hi = bounds
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{where}.{key} = {v!r}: expected an integer in [{lo}, {hi}]")
    return v


def available_memory() -> int:
    """Bytes of physical memory on this machine (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 0


def parameter_bytes(model_cfg: dict) -> int:
    """Float32 bytes of a ViT + text Transformer config's parameters (12 L W^2 per tower, embeddings, projections):
    an estimate within a few percent of open_clip's count for its ViT configs."""
    v, t = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    vw, tw = v.get("width", 768), t.get("width", 512)
    grid = (v.get("image_size", 224) // max(v.get("patch_size", 16), 1)) ** 2
    params = 12 * v.get("layers", 12) * vw * vw + (grid + 1) * vw + 3 * v.get("patch_size", 16) ** 2 * vw
    params += 12 * t.get("layers", 12) * tw * tw + (t.get("vocab_size", 49408) + t.get("context_length", 77)) * tw
    params += (vw + tw) * model_cfg.get("embed_dim", 512)
    return 4 * params


def read_model_config(path: str | Path, memory: int | None = None) -> dict:
    """The checked content of an open_clip_config.json (module docstring); ValueError naming the file otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"{size} bytes: a model config is under {MAX_CONFIG_BYTES} bytes")
        data = json.loads(path.read_bytes().decode("utf-8"))
        if _depth(data) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(data, dict) or not isinstance(data.get("model_cfg"), dict):
            raise ValueError("expected a JSON object with a 'model_cfg' object (open_clip's hub config layout)")
        _check_model_cfg(data["model_cfg"], memory)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exn:
        reason = str(exn).splitlines()[0][:200] if str(exn) else type(exn).__name__
        raise ValueError(f"bad open_clip config {path}: {reason}") from None
    return data


def _check_model_cfg(model: dict, memory: int | None) -> None:
    for key in ("vision_cfg", "text_cfg"):
        if not isinstance(model.get(key, {}), dict):
            raise ValueError(f"model_cfg.{key} is not an object")
    vision, text = model.get("vision_cfg", {}), model.get("text_cfg", {})
    for key, what in _OUTSIDE.items():
        if vision.get(key) or text.get(key):
            raise ValueError(f"{what} ({key} = {vision.get(key) or text.get(key)!r}): the suite's encoders are "
                             f"open_clip ViT image towers with open_clip text Transformers")
    _int_field(model, "embed_dim", (1, 16384), "model_cfg")
    for key, bounds in _VISION.items():
        _int_field(vision, key, bounds, "model_cfg.vision_cfg")
    for key, bounds in _TEXT.items():
        _int_field(text, key, bounds, "model_cfg.text_cfg")
    image, patch = vision.get("image_size", 224), vision.get("patch_size", 16)
    if isinstance(image, int) and patch > image:
        raise ValueError(f"model_cfg.vision_cfg.patch_size = {patch} is larger than image_size = {image}")
    need, have = parameter_bytes(model), available_memory() if memory is None else memory
    if have and need > have // 2:
        raise ValueError(f"its parameters alone need about {need / 2**30:.1f} GiB (float32), more than half of this "
                         f"machine's {have / 2**30:.1f} GiB")
