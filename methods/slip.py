"""SLIP: Self-supervision meets Language-Image Pre-training (Mu et al., ECCV 2022, arXiv 2112.12750).

CLIP plus SimCLR on the image tower: each sample gives one CLIP view (RandomResizedCrop scale 0.5-1) and two SSL
views (scale 0.08-1 with colour jitter, grayscale, blur, flip). A 3-layer MLP head with BatchNorm on the raw
backbone feature (not the CLIP projection) feeds the NT-Xent loss at temperature 0.1 with negatives from both
views across ranks. Total = L_clip + ssl_scale * L_simclr. All three views share a resolution, so the image
tower runs once on 3B crops.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .base import Method
from .contrastive import ContrastiveConfig, diagnostics, image_text_loss
from .data.views import SIMCLR, ImageView, TextView
from .losses import simclr
from .modules import ProjectionMLP, encode_views, views_first


@dataclasses.dataclass(frozen=True)
class SLIPConfig(ContrastiveConfig):
    caption: str = "random"
    """Caption mode of the text view (as CLIP's; see methods.data.views.TextView)."""
    clip_scale: tuple[float, float] = (0.5, 1.0)
    """RandomResizedCrop scale of the CLIP view (SLIP code)."""
    ssl_scale_range: tuple[float, float] = (0.08, 1.0)
    """RandomResizedCrop scale of the two SSL views (SimCLR pipeline, SLIP code)."""
    ssl_scale: float = 1.0
    """Weight of the SimCLR term (SLIP paper: 1.0)."""
    ssl_temperature: float = 0.1
    ssl_hidden: int = 4096
    ssl_dim: int = 256
    interpolation: str = "bicubic"
    """Resize interpolation of all three crops: the suite's bicubic, or bilinear as the SLIP code (torchvision's
    RandomResizedCrop default; recipe=slip_yfcc15m sets it)."""

    def __post_init__(self):
        super().__post_init__()
        TextView(self.caption)
        ImageView(1, tuple(self.clip_scale), interpolation=self.interpolation)
        ImageView(1, tuple(self.ssl_scale_range))
        if self.ssl_temperature <= 0 or self.ssl_hidden < 1 or self.ssl_dim < 1:
            raise ValueError("ssl_temperature, ssl_hidden and ssl_dim must be positive")


class SLIP(Method):
    name = "slip"
    Config = SLIPConfig
    SCALE_FIELDS = {"tiny": {"ssl_hidden": 512, "ssl_dim": 128}}
    TINY_SECONDS_PER_STEP_B32 = 0.35
    ADDED_DEFAULTS = Method.ADDED_DEFAULTS | {"interpolation": "bicubic"}

    def __init__(self, cfg: SLIPConfig, encoders):
        super().__init__(cfg, encoders)
        self.ssl_head = ProjectionMLP(encoders.image_width, cfg.ssl_hidden, cfg.ssl_dim)

    @property
    def views(self) -> dict[str, object]:
        size, interp = self.encoders.image_size, self.cfg.interpolation
        ssl = ImageView(size, tuple(self.cfg.ssl_scale_range), augment=SIMCLR, interpolation=interp)
        return {"image": ImageView(size, tuple(self.cfg.clip_scale), interpolation=interp),
                "text": TextView(self.cfg.caption), "ssl1": ssl, "ssl2": ssl}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        enc = self.encoders
        raw, _ = encode_views(lambda x: enc.image_forward(x, project=False),
                              views_first(batch["image"], batch["ssl1"], batch["ssl2"]))
        img = F.normalize(raw[0] @ enc.model.visual.proj, dim=-1)
        txt = F.normalize(enc.text_forward(batch["text"])[0], dim=-1)
        clip_loss = image_text_loss(self.cfg, img[None], txt[None], enc)
        # the head runs per view, as in SLIP's code, so BatchNorm statistics are per view
        ssl_loss = simclr(self.ssl_head(raw[1]), self.ssl_head(raw[2]), self.cfg.ssl_temperature)
        loss = clip_loss + self.cfg.ssl_scale * ssl_loss
        return {"loss": loss, "clip_loss": clip_loss.detach(), "ssl_loss": ssl_loss.detach()} | \
            diagnostics(self.cfg, enc)
