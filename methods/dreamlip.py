"""DreamLIP: Language-Image Pre-training with Long Captions (Zheng et al., ECCV 2024, arXiv 2403.17007).

Each image is paired with its alt-text and `num_text` sub-captions: single sentences of the sample's synthetic
long captions. Two terms:
- multiple positives: the image-text contrastive term averaged over the 1 + num_text texts, each a positive of
  the image (the official `ClipLoss` with `use_declip_loss`: (CE_i2t + CE_t2i) / (2 T) summed over the T texts);
- subcaption-specific grouping (`use_finegrained_loss`, methods.losses.subcaption_grouping): each text groups the
  image's patch features by its similarity to them, and texts are contrasted with their grouped embeddings under
  a second learnable temperature.
Total = clip_weight * L_itc + sgl_weight * L_sgl (official `--clip_lossweight`, `--sgl_lossweight`).

Official facts, and where the released code cannot run as written (zyf0619sjtu/DreamLIP d2aeea8):
- Its README's "Release training code" is unchecked and no training command is published, so the flags are
  read from the paper's method (multiple positives + grouping loss): `--use_longcap --use_declip_loss
  --use_finegrained_loss` with training/params.py's defaults (--num_text 6, --merged_num 1, --sgl_delta 0.0,
  --sgl_norm minmax, both loss weights 1.0). The multi-positive circle loss and the OT loss are other flags the
  paper does not use.
- The grouping term's temperature `logit_scale_local` is None in model.py (its learnable parameter is commented
  out: `nn.Parameter(torch.ones([]) * init_logit_scale)`), which the loss cannot multiply; train.py clamps it
  to [0, ln 100] "if" it exists. Here it is that commented-out parameter: learnable, initialised at ln(1 / 0.07),
  clamped as CLIP's.
- The patch features are the image tower's tokens after ln_post, unprojected (`return pooled, tokens
  #@ self.proj2`): width 768 against text features of 512 at ViT-B/16, which the loss's einsum refuses. Here
  they go through the visual projection (the map the pooled token takes, as dense evaluation uses).
- The official loss views the text-major stack of text features as (batch, texts), which pairs a sample's
  patches with other samples' texts (`grouping_texts`: "official", the default, reproduces it; "own" groups each
  sample's patches with its own texts, as the paper's equation reads).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .clip import CLIP, CLIPConfig
from .contrastive import diagnostics, image_text_loss
from .data.views import TextView
from .losses import GROUPING_NORMS, GROUPING_TEXTS, subcaption_grouping
from .modules import LogitScale, encode_views, views_first


@dataclasses.dataclass(frozen=True)
class DreamLIPConfig(CLIPConfig):
    caption: str = "raw"
    """The first text: the alt-text (official: `captions = [caption_raw] + sub-captions`)."""
    num_text: int = 6
    """Sub-captions per sample (official --num_text 6)."""
    sgl_delta: float = 0.0
    """Grouping threshold on the normalised similarities (official --sgl_delta 0.0; negative: 1 / patches)."""
    sgl_norm: str = "minmax"
    """How a text's similarities to the patches are normalised: "minmax" (official --sgl_norm) or "softmax"."""
    clip_weight: float = 1.0
    """Weight of the multi-positive contrastive term (official --clip_lossweight 1.0)."""
    sgl_weight: float = 1.0
    """Weight of the grouping term (official --sgl_lossweight 1.0; 0 turns it off)."""
    grouping_texts: str = "official"
    """Which texts group a sample's patches: "official" (the released reshape, mostly other samples' texts) or
    "own" (the sample's own texts, the paper's equation); methods.losses.subcaption_grouping."""

    def __post_init__(self):
        super().__post_init__()
        if self.num_text < 0 or self.clip_weight < 0 or self.sgl_weight < 0:
            raise ValueError(f"num_text, clip_weight and sgl_weight must be >= 0, got {self.num_text}, "
                             f"{self.clip_weight}, {self.sgl_weight}")
        if self.sgl_norm not in GROUPING_NORMS:
            raise ValueError(f"unknown sgl_norm {self.sgl_norm!r}; valid choices: {', '.join(GROUPING_NORMS)}")
        if self.grouping_texts not in GROUPING_TEXTS:
            raise ValueError(f"unknown grouping_texts {self.grouping_texts!r}; valid choices: "
                             f"{', '.join(GROUPING_TEXTS)}")


class DreamLIP(CLIP):
    name = "dreamlip"
    Config = DreamLIPConfig
    # 2.3x CLIP's step, measured side by side on one 2-core CPU (benchmarks/tiny_step.py --per-step --candidates
    # patch16-64 --methods clip dreamlip: 293 vs 127 ms with data.augment=workers, 305 vs 133 ms with =device,
    # nothing else running), applied to CLIP's reference value (experiments/scales.py)
    TINY_SECONDS_PER_STEP_B32 = 0.44

    @classmethod
    def synthetic_captions_needed(cls, cfg: DreamLIPConfig) -> str:
        return "num_text>0" if cfg.num_text else ""  # sub-captions come from synthetic long captions

    def __init__(self, cfg: DreamLIPConfig, encoders):
        super().__init__(cfg, encoders)
        if cfg.sgl_weight:  # built only when used: DDP requires every parameter to receive a gradient
            self.grouping = LogitScale()

    @property
    def views(self) -> dict[str, object]:
        return {"image": super().views["image"],  # CLIP's one image view
                "texts": TextView(self.cfg.caption, 1, self.cfg.num_text, local="subcaption")}

    def features(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        enc = self.encoders
        image, tokens = enc.image_forward(batch["image"])
        texts = views_first(batch["texts"], item_dims=1)  # (T, B, L)
        text = encode_views(enc.text_forward, texts)[0]
        out = {"image": F.normalize(image, dim=-1), "text": F.normalize(text, dim=-1).transpose(0, 1)}  # (B, T, D)
        if self.cfg.sgl_weight:  # the official model hands the loss normalised patch features
            out["patches"] = F.normalize(enc.project_image_tokens(tokens), dim=-1)
        return out

    def loss(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        texts = features["text"].transpose(0, 1)  # (T, B, D)
        itc = image_text_loss(cfg, features["image"][None], texts, self.encoders)
        out = {"clip_loss": itc.detach()} | diagnostics(cfg, self.encoders)
        loss = cfg.clip_weight * itc
        if cfg.sgl_weight:
            sgl = subcaption_grouping(texts, features["patches"], self.grouping.logit_scale, cfg.sgl_delta,
                                      cfg.sgl_norm, cfg.grouping_texts)
            loss = loss + cfg.sgl_weight * sgl
            out |= {"grouping_loss": sgl.detach(), "grouping_logit_scale": self.grouping.logit_scale.detach().exp()}
        return out | {"loss": loss}
