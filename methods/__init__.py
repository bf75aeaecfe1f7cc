"""The suite's library: methods, encoders, data, evaluators and the training loop. Imports no sacred,
experiments or analysis code."""

from __future__ import annotations

from .base import Method
from .clip import CLIP
from .cosmos import COSMOS
from .dreamlip import DreamLIP
from .silc import SiLC
from .slip import SLIP

METHODS: dict[str, type[Method]] = {"clip": CLIP, "slip": SLIP, "silc": SiLC, "cosmos": COSMOS,
                                   "dreamlip": DreamLIP}


def build_method(name: str, cfg, encoder: str, context_length: int = 0, text_act: str = "gelu",
                 image_norm: str = "openai") -> Method:
    """A method by registry key, with its Config instance and a freshly initialised encoder pair (text context
    `context_length`, 0: the encoder's own; the text tower's activation and the images' normalisation: see
    methods.encoders.build_encoders)."""
    from .encoders import build_encoders

    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid choices: {', '.join(METHODS)}")
    return METHODS[name](cfg, build_encoders(encoder, context_length, text_act, image_norm,
                                            **METHODS[name].encoder_options(cfg)))


__all__ = ["METHODS", "Method", "build_method"]
