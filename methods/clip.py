"""CLIP: Learning Transferable Visual Models From Natural Language Supervision (Radford et al., arXiv 2103.00020).

One image view and one caption per sample; the loss is the symmetric InfoNCE over the global batch with a
learnable temperature (initialised to 1/0.07, clamped at 100). This is the baseline every other method extends.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .base import Method
from .contrastive import ContrastiveConfig, diagnostics, image_text_loss
from .data.views import ImageView, TextView


@dataclasses.dataclass(frozen=True)
class CLIPConfig(ContrastiveConfig):
    caption: str = "random"
    """Caption mode of the text view (raw / random / short / long). The COSMOS paper's CLIP baseline on
    re-captioned data samples one caption per image; the paper does not say how, so uniform over all captions."""
    crop_scale: tuple[float, float] = (0.9, 1.0)
    """RandomResizedCrop scale of the image view: open_clip's default training augmentation."""
    interpolation: str = "bicubic"
    """Resize interpolation of the crop: bicubic (open_clip, COSMOS) or bilinear (the SLIP code's CLIP)."""

    def __post_init__(self):
        super().__post_init__()
        TextView(self.caption)  # raises on an unknown caption mode, naming the valid ones
        ImageView(1, interpolation=self.interpolation)
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")


class CLIP(Method):
    name = "clip"
    Config = CLIPConfig
    TINY_SECONDS_PER_STEP_B32 = 0.19  # experiments/scales.py says how it was measured
    ADDED_DEFAULTS = Method.ADDED_DEFAULTS | {"interpolation": "bicubic"}

    @property
    def views(self) -> dict[str, object]:
        return {"image": ImageView(self.encoders.image_size, tuple(self.cfg.crop_scale),
                                   interpolation=self.cfg.interpolation),
                "text": TextView(self.cfg.caption)}

    def features(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"image": F.normalize(self.encoders.image_forward(batch["image"])[0], dim=-1),
                "text": F.normalize(self.encoders.text_forward(batch["text"])[0], dim=-1)}

    def loss(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        loss = image_text_loss(self.cfg, features["image"][None], features["text"][None], self.encoders)
        return {"loss": loss, "clip_loss": loss.detach()} | diagnostics(self.cfg, self.encoders)
