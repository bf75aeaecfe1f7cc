"""COSMOS: Cross-Modality Self-Distillation for Vision Language Pre-training (Kim et al., CVPR 2025,
arXiv 2412.01814).

Multi-crop images (2 global + 6 local) and text crops (2 global of 1-5 sentences + 6 single sentences) of each
sample are all positives of each other. L_clip = InfoNCE averaged over (2 global crops) x (8 texts). A student-only
cross-attention layer per modality pools each view's embedding against the OTHER modality's tokens of the first
global view; the cross-attended student features are contrasted (own learnable temperature) with an EMA teacher's
plain features of the global views: L_cosmos = 1/4 [P(S_img, T_img) + P(S_img, T_txt) + P(S_txt, T_img) +
P(S_txt, T_txt)]. Total = L_clip + distill_weight * L_cosmos. Evaluation never uses the cross-attention.

Every Table 5 component is a switch: local_crops (multi-crop), image_distill, caption="textcrop" (text
cropping), text_distill, cross_attention.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .contrastive import diagnostics, image_text_loss
from .data.views import TextView
from .losses import cosmos
from .modules import CrossAttentionPool, LogitScale, encode_views, views_first
from .multicrop import MultiCropConfig, MultiCropMethod

# The official release (ExplainableML/cosmos, a model built with --output-all --attentional-pool --cosmos) keeps
# open_clip's CLIP keys and adds 21 of its own; this is where each lives here (methods/interop.py maps files both
# ways). The official names follow the tower that owns a layer, ours what it does: `visual.attn_cross_pool` pools
# image tokens for the text views (our text_xattn), `text_attn_cross_pool` text tokens for the image views.
RELEASE_NAMES = {"distill_logit_scale": "distill.logit_scale", "image_token_mapping.": "image_token_map.",
                 "text_token_mapping.": "text_token_map.", "visual.attn_cross_pool.": "text_xattn.",
                 "text_attn_cross_pool.": "image_xattn."}
RELEASE_XATTN = {"ln_q.": "norm_q.", "ln_k.": "norm_kv.", "attn.": "attn."}  # inside a cross-attention pool


@dataclasses.dataclass(frozen=True)
class COSMOSConfig(MultiCropConfig):
    caption: str = "textcrop"
    """Global text views: "textcrop" (COSMOS) or a caption mode raw / random / short / long (ablations)."""
    global_texts: int = 2
    local_texts: int = 6
    max_sentences: int = 5
    """A global text crop takes k ~ U{1..max_sentences} sentences (official code: 5)."""
    local_text: str = "sentence"
    """Local text views: single sentences (COSMOS), "masked" global texts (DeCLIP-style, Table 17), or "caption":
    every text a whole caption of `caption`'s pool in one draw (the official caption modes, Table 17)."""
    mask_ratio: float = 0.15
    image_distill: bool = True
    """Distil the (cross-attended) student image views toward the teacher (the P(S_img, .) terms)."""
    text_distill: bool = True
    """Distil the student text views toward the teacher (the P(S_txt, .) terms)."""
    cross_attention: bool = True
    """Pool student views with cross-attention before distillation; off = plain student embeddings."""
    mask_text_padding: bool = False
    """Mask padding tokens as cross-attention keys (the official code does not: default off)."""
    clip_on_local_crops: bool = False
    """Put local image crops in the CLIP loss too (official: no, 'it overfits'; the Table 5 multi-crop row)."""
    distill_weight: float = 1.0
    """Weight of L_cosmos (paper: 1:1)."""
    heads: int = 8
    """Cross-attention heads (official: 8)."""
    text_crops: str = "official"
    """Text-crop sampling (methods.data.views.TEXT_CROPS): "official" = the official `sample_dict` +
    `random_sample_from_list` (joined with ". ", small pools repeated); "capped" = the suite's earlier rule."""
    ema_order: str = "before_step"
    """The official code updates the teacher between backward and the optimiser step (see MultiCropConfig)."""

    def __post_init__(self):
        super().__post_init__()
        self.text_view()  # validates the text fields, naming the bad one
        if self.distill_weight < 0 or self.heads < 1:
            raise ValueError(f"distill_weight must be >= 0 and heads >= 1, got {self.distill_weight}, {self.heads}")

    @property
    def distills(self) -> bool:
        return self.image_distill or self.text_distill

    def text_view(self) -> TextView:
        return TextView(self.caption, self.global_texts, self.local_texts, self.max_sentences, self.local_text,
                        self.mask_ratio, self.text_crops)


class COSMOS(MultiCropMethod):
    name = "cosmos"
    Config = COSMOSConfig
    TINY_SECONDS_PER_STEP_B32 = 0.78
    ADDED_DEFAULTS = MultiCropMethod.ADDED_DEFAULTS | {"text_crops": "capped"}

    @classmethod
    def synthetic_captions_needed(cls, cfg: COSMOSConfig) -> str:
        return "caption=textcrop" if cfg.caption == "textcrop" else ""  # text crops need more than alt-text

    @property
    def release_layout(self) -> bool:
        # the release holds the distillation temperature, and no sigmoid-loss bias
        return self.cfg.distills and self.cfg.contrastive == "softmax"

    def __init__(self, cfg: COSMOSConfig, encoders):
        super().__init__(cfg, encoders)
        d = encoders.embed_dim
        if d % cfg.heads:
            raise ValueError(f"embedding width {d} is not divisible by heads={cfg.heads}")
        # parts are built only when a switch uses them: DDP requires every parameter to receive a gradient
        parts: dict[str, nn.Module] = {"encoders": encoders}
        if cfg.distills:  # own learnable temperature of L_cosmos (official: distill_logit_scale)
            parts["distill"] = self.distill = LogitScale()
        if cfg.image_distill and cfg.cross_attention:  # image views attend to text tokens
            parts["text_token_map"] = self.text_token_map = nn.Linear(encoders.text_width, d)
            parts["image_xattn"] = self.image_xattn = CrossAttentionPool(d, cfg.heads)
        if cfg.text_distill and cfg.cross_attention:  # text views attend to image patch tokens
            parts["image_token_map"] = self.image_token_map = nn.Linear(encoders.image_width, d)
            parts["text_xattn"] = self.text_xattn = CrossAttentionPool(d, cfg.heads)
        self.init_teacher(nn.ModuleDict(parts))  # an EMA of every student parameter; only its encoders run

    @property
    def views(self) -> dict[str, object]:
        c = self.cfg
        return self.image_views(local=c.image_distill or c.clip_on_local_crops) | {"texts": c.text_view()}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        enc, cfg = self.encoders, self.cfg
        g_img, g_tokens, l_img = self.encode_crops(batch)  # (2, B, D), (2, B, N, W), (n, B, D)
        texts = views_first(batch["texts"], item_dims=1)  # (T, B, L)
        txt, t_tokens = encode_views(enc.text_forward, texts)  # (T, B, D), (T, B, L, W)
        img = g_img if l_img is None else torch.cat([g_img, l_img])
        clip_img = img if cfg.clip_on_local_crops else g_img
        clip_loss = image_text_loss(cfg, F.normalize(clip_img, dim=-1), F.normalize(txt, dim=-1), enc)
        out = {"clip_loss": clip_loss.detach()} | diagnostics(cfg, enc)
        loss = clip_loss
        if cfg.distills:
            s_img, s_txt = self._student_views(img, txt, g_tokens[0], t_tokens[0], texts[0])
            t_img, t_txt = self._teacher_views(batch, texts[: cfg.global_texts])
            distill_loss = cosmos(s_img, s_txt, t_img, t_txt, self.distill.logit_scale)
            loss = loss + cfg.distill_weight * distill_loss
            out |= {"distill_loss": distill_loss.detach(),
                    "distill_logit_scale": self.distill.logit_scale.detach().exp()}
        return out | {"loss": loss}

    def _student_views(self, img, txt, img_tokens, txt_tokens, first_text):
        """Cross-attended, normalised student features (V, B, D) per modality (None where distillation is off).
        Image views attend to the first global caption's tokens; text views to the first global crop's patches."""
        cfg = self.cfg
        s_img = s_txt = None
        if cfg.image_distill:
            s_img = img
            if cfg.cross_attention:
                pad = (first_text == 0) if cfg.mask_text_padding else None  # open_clip pads with token id 0
                kv = self.text_token_map(txt_tokens)
                s_img = self.image_xattn(img.transpose(0, 1), kv, pad).transpose(0, 1)
        if cfg.text_distill:
            s_txt = txt
            if cfg.cross_attention:
                s_txt = self.text_xattn(txt.transpose(0, 1), self.image_token_map(img_tokens)).transpose(0, 1)
        norm = lambda x: None if x is None else F.normalize(x, dim=-1)  # noqa: E731
        return norm(s_img), norm(s_txt)

    def _teacher_views(self, batch, global_texts):
        """Teacher's plain, normalised features of the global crops (2, B, D) and global texts (G, B, D)."""
        t_img = self.teacher_image(batch)[0]
        with torch.no_grad():
            t_txt = encode_views(self.teacher_encoders().text_forward, global_texts)[0]
        return F.normalize(t_img, dim=-1), F.normalize(t_txt, dim=-1)

    @torch.no_grad()
    def cross_attention_maps(self, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Student cross-attention weights for figures: the caption's query over image patches (B, gh, gw) and
        the image's query over caption tokens (B, L), where those layers exist."""
        enc, out = self.encoders, {}
        img, patches = enc.image_forward(images)
        txt, words = enc.text_forward(tokens)
        pad = (tokens == 0) if self.cfg.mask_text_padding else None
        if hasattr(self, "text_xattn"):
            w = self.text_xattn.weights(txt[:, None], self.image_token_map(patches))[:, 0]
            g = images.shape[-1] // enc.patch_size
            out["xattn_patches"] = w.reshape(-1, g, g)
        if hasattr(self, "image_xattn"):
            out["xattn_tokens"] = self.image_xattn.weights(img[:, None], self.text_token_map(words), pad)[:, 0]
        return out
