"""Checkpoint interop with open_clip: load open_clip / COSMOS-release weights into our encoders, and export any
trained method's evaluation weights as a folder open_clip loads with `create_model("local-dir:<folder>")`.

Loading is strict: a missing or unexpected key raises, naming the keys (never a silent strict=False), and every
file is read with torch.load(weights_only=True).
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from .checkpoint import load
from .encoders import Encoders
from .errors import CheckpointError

WEIGHTS_FILE = "open_clip_pytorch_model.bin"
CONFIG_FILE = "open_clip_config.json"
_PREFIXES = ("module.", "model.", "encoders.model.")


def read_state_dict(path: str | Path, which: str = "state_dict") -> dict[str, torch.Tensor]:
    """A CLIP state dict from a local file: a plain state dict (open_clip), {"state_dict": ...} (open_clip training
    checkpoints), {"student": ..., "teacher": ...} (COSMOS release; `which` picks one), or this suite's own
    training checkpoint (runs/checkpoints/<fingerprint>/last.pt; student encoders, or the EMA teacher's with
    which="teacher"). DDP / wrapper prefixes ("module.", "model.") are stripped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    ckpt = load(path)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a state dict")
    if isinstance(ckpt, dict) and "model" in ckpt and "optimizer" in ckpt:  # this suite's training checkpoint
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
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt.items()):
        raise CheckpointError(f"{path} is not a state dict (name -> tensor)")
    out = {}
    for k, v in ckpt.items():
        for p in _PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v
    return out


def load_into(encoders: Encoders, path: str | Path, which: str = "state_dict") -> None:
    """Load a checkpoint into `encoders` strictly; a key mismatch raises naming the missing / unexpected keys."""
    state = read_state_dict(path, which)
    own = encoders.model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not match encoder {encoders.name}: missing {missing[:10]}"
                       f"{' ...' if len(missing) > 10 else ''}, unexpected {unexpected[:10]}"
                       f"{' ...' if len(unexpected) > 10 else ''}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(f"checkpoint {path}: shape mismatch for {bad[:10]}")
    encoders.model.load_state_dict(state, strict=True)


def export_open_clip(method, out_dir: str | Path) -> Path:
    """Write the method's evaluation weights (student or teacher, as configured) + model config for open_clip."""
    enc = method.eval_encoders()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": open_clip.get_model_config(enc.name),
           "preprocess_cfg": {"mean": list(OPENAI_DATASET_MEAN), "std": list(OPENAI_DATASET_STD),
                              "interpolation": "bicubic", "resize_mode": "shortest"}}
    (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=1))
    torch.save({k: v.detach().cpu() for k, v in enc.model.state_dict().items()}, out / WEIGHTS_FILE)
    return out
