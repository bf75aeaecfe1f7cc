"""View specifications a method declares, and the builders that turn one decoded sample into those views.

A method's `views` maps batch keys to specs; the data pipeline builds exactly those keys, nothing else. Specs are
frozen dataclasses (pure data, picklable into DataLoader workers). Randomness comes from the per-sample seed the
stream hands in, so a sample's views depend only on (run seed, stream position): that is what makes resume exact.
"""

from __future__ import annotations

import dataclasses
import random

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.transform import AugmentationCfg, image_transform

from .text import CAPTION_MODES, pick_caption


@dataclasses.dataclass(frozen=True)
class ImageView:
    """One image crop: open_clip's train transform (RandomResizedCrop, bicubic) or eval transform (resize+centre)."""

    size: int
    scale: tuple[float, float] = (0.9, 1.0)
    train: bool = True


@dataclasses.dataclass(frozen=True)
class TextView:
    """One tokenised caption chosen by `mode` (see methods.data.text.pick_caption)."""

    mode: str = "random"

    def __post_init__(self):
        if self.mode not in CAPTION_MODES:
            raise ValueError(f"unknown caption mode {self.mode!r}; valid choices: {', '.join(CAPTION_MODES)}")


class ViewBuilder:
    """Builds a dict of view tensors from a decoded sample {"image": PIL, "captions": record}."""

    def __init__(self, views: dict[str, object], tokenizer):
        self.views, self.tokenizer = dict(views), tokenizer
        for key, spec in self.views.items():  # a bad spec is a programming error: fail here, not per sample
            if not isinstance(spec, (ImageView, TextView)):
                raise TypeError(f"view {key!r}: unknown spec type {type(spec).__name__}")
        self._transforms = {
            k: image_transform(v.size, is_train=v.train, mean=OPENAI_DATASET_MEAN, std=OPENAI_DATASET_STD,
                               aug_cfg=AugmentationCfg(scale=v.scale))
            for k, v in self.views.items() if isinstance(v, ImageView)}

    def __call__(self, sample: dict, seed: int) -> dict[str, torch.Tensor]:
        rng = random.Random(seed)
        out = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for key, spec in self.views.items():
                if isinstance(spec, ImageView):
                    out[key] = self._transforms[key](sample["image"])
                else:
                    out[key] = self.tokenizer([pick_caption(sample["captions"], spec.mode, rng)])[0]
        return out
