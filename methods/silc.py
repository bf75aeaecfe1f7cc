"""SiLC: Improving Vision Language Pretraining with Self-Distillation (Naeem et al., ECCV 2024, arXiv 2310.13355).

CLIP loss on each of 2 global image crops against the caption, plus DINO-style local-to-global
self-distillation: an EMA teacher (fixed momentum) sees the 2 global crops, the student all crops (2 global +
8 local); student outputs are pushed toward the teacher's centred, sharpened outputs on the other global view.
No official training code is public: the head, temperatures, centring and loss weight are DINO's (methods.md),
each a config field.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .contrastive import diagnostics, image_text_loss
from .data.views import TextView
from .losses import dino, dino_health, dino_targets
from .modules import DINOHead
from .multicrop import MultiCropConfig, MultiCropMethod


@dataclasses.dataclass(frozen=True)
class SiLCConfig(MultiCropConfig):
    local_crops: int = 8
    """SiLC: 8 local crops (resolution not given: 96 px as DINO)."""
    caption: str = "random"
    """Caption mode of the text view (one caption per sample)."""
    head_dim: int = 65_536
    """K, the DINO head's output dimension (DINO's value; SiLC does not give it)."""
    head_hidden: int = 2048
    head_bottleneck: int = 256
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    center_momentum: float = 0.9
    distill_weight: float = 1.0
    """Weight of the self-distillation term (not given by SiLC; 1.0)."""

    def __post_init__(self):
        super().__post_init__()
        TextView(self.caption)
        if min(self.head_dim, self.head_hidden, self.head_bottleneck) < 1 or self.student_temp <= 0 or \
                self.teacher_temp <= 0 or not 0 <= self.center_momentum < 1 or self.distill_weight < 0:
            raise ValueError("SiLC head sizes and temperatures must be positive, center_momentum in [0, 1)")


class SiLC(MultiCropMethod):
    name = "silc"
    Config = SiLCConfig
    SCALE_FIELDS = {"tiny": MultiCropMethod.SCALE_FIELDS["tiny"] | {"head_dim": 1024, "head_hidden": 512,
                                                                    "head_bottleneck": 128},
                    "small": {"head_dim": 8192}}
    TINY_SECONDS_PER_STEP_B32 = 0.60

    def __init__(self, cfg: SiLCConfig, encoders):
        super().__init__(cfg, encoders)
        self.head = DINOHead(encoders.image_width, cfg.head_dim, cfg.head_hidden, cfg.head_bottleneck)
        self.init_teacher(nn.ModuleDict({"encoders": encoders, "head": self.head}))

    @property
    def views(self) -> dict[str, object]:
        return self.image_views() | {"text": TextView(self.cfg.caption)}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        enc, cfg = self.encoders, self.cfg
        g_raw, _, l_raw = self.encode_crops(batch, project=False)
        img = F.normalize(enc.project_image_tokens(g_raw), dim=-1)  # (2, B, D)
        txt = F.normalize(enc.text_forward(batch["text"])[0], dim=-1)
        clip_loss = image_text_loss(cfg, img, txt[None], enc)
        student = self.head(g_raw if l_raw is None else torch.cat([g_raw, l_raw]))  # (2 + n, B, K)
        t_raw = self.teacher_image(batch, project=False)[0]
        with torch.no_grad():
            teacher = self.teacher.module["head"](t_raw)
        targets = dino_targets(teacher, self.head.center, cfg.teacher_temp)
        distill_loss = dino(student, targets, cfg.student_temp)
        health = dino_health(targets)
        self.head.update_center(teacher.flatten(0, 1), cfg.center_momentum)
        loss = clip_loss + cfg.distill_weight * distill_loss
        return {"loss": loss, "clip_loss": clip_loss.detach(), "distill_loss": distill_loss.detach()} | \
            diagnostics(cfg, enc) | health
