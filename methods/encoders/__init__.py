"""The encoder zoo: open_clip ViT CLIP models (a dependency, never vendored) with pooled and token outputs.

`Encoders` wraps one `open_clip.CLIP` and adds what the methods need and open_clip does not expose in one call:
image patch tokens after ln_post and text tokens after ln_final next to the pooled, projected embeddings, and
image inputs smaller than the config's size (local crops) through a bicubically interpolated positional
embedding. Tiny CPU configs live as open_clip JSON files in configs/ and are registered with open_clip on import.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.constants import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    OPENAI_DATASET_MEAN,
    OPENAI_DATASET_STD,
)
from open_clip.transformer import QuickGELU, VisionTransformer, text_global_pool
from torch import nn

from .local_config import read_model_config

CONFIG_DIR = Path(__file__).parent / "configs"
open_clip.add_model_config(CONFIG_DIR)

# How a positional embedding is resized for a smaller grid (local crops): "size" = bicubic to the target grid,
# align_corners=False; "dino" = DINO's formula, which the official COSMOS code copies: bicubic by the scale factor
# (g' + 0.1) / g, so the sampling grid follows the scale factor, not the sizes (shifted by up to 0.25 patch).
POS_INTERP = ("dino", "size")

# The zoo the suite is tested with: GPU architectures from open_clip plus our tiny CPU configs.
MAX_CONTEXT = 1024  # text tokens: far above any caption the suite reads; bounds the text tower's memory
# An image's normalisation (mean, std per channel), by name: one setting read by training (methods.data.on_device)
# and every evaluator through `Encoders.image_mean` / `image_std`, and exported as open_clip's preprocess_cfg.
NORMALISATIONS = {"openai": (OPENAI_DATASET_MEAN, OPENAI_DATASET_STD),  # CLIP, open_clip, COSMOS
                  "imagenet": (IMAGENET_MEAN, IMAGENET_STD),  # SLIP (main.py), DINO
                  "inception": (INCEPTION_MEAN, INCEPTION_STD)}  # SigLIP's published models
# The text tower's MLP activation. open_clip's `quick_gelu` switches both towers; SLIP's text Transformer uses
# QuickGELU beside a timm ViT with GELU, so the suite switches the text tower alone.
TEXT_ACTIVATIONS = ("gelu", "quick_gelu")
ZOO = ("ViT-B-16", "ViT-B-32", "ViT-S-16", "ViT-Tiny-16-64", "ViT-Tiny-8-64", "ViT-Micro-8-32")


class _QuietOpenClip(logging.Filter):
    """open_clip logs ~9 INFO lines per model build on the root logger and warns on every random init; in a
    training suite that builds models all day that is not news. Its warnings and errors pass, as does
    everything with COSMOS_SUITE_VERBOSE=1 (`run.py -v`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get("COSMOS_SUITE_VERBOSE"):
            return True
        if str(record.msg).startswith("No pretrained weights loaded"):
            return False
        return record.levelno >= logging.WARNING or "open_clip" not in record.pathname


logging.getLogger().addFilter(_QuietOpenClip())



LOCAL_DIR = "local-dir:"  # open_clip's schema for a model folder
CONFIG_FILE = "open_clip_config.json"  # that folder's model and preprocessing config


def local_dir(name: str) -> Path | None:
    """The folder of an encoder named `local-dir:FOLDER`, else None."""
    return Path(name[len(LOCAL_DIR):]) if name.startswith(LOCAL_DIR) else None


def known_encoder(name: str) -> bool:
    """An open_clip model name, or open_clip's `local-dir:FOLDER` with the folder's open_clip_config.json."""
    folder = local_dir(name)
    return (folder / CONFIG_FILE).is_file() if folder else name in open_clip.list_models()


def normalisation_name(mean, std) -> str | None:
    """The NORMALISATIONS name of (mean, std), None for constants the suite does not name."""
    want = (tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std))
    return next((n for n, (m, s) in NORMALISATIONS.items()
                 if want == (tuple(round(v, 6) for v in m), tuple(round(v, 6) for v in s))), None)


def build_encoders(name: str, context_length: int = 0, text_act: str = "gelu", image_norm: str = "openai",
                   **model_options) -> Encoders:
    """A randomly initialised encoder pair by open_clip name (no download: pretrained weights load elsewhere).
    context_length > 0 replaces the model config's text context (positional embedding, causal mask, tokenizer);
    text_act: the text tower's MLP activation (TEXT_ACTIVATIONS); image_norm: the images' normalisation
    (NORMALISATIONS), set as the model's open_clip preprocess_cfg; model_options go to open_clip's model (e.g.
    init_logit_scale / init_logit_bias of the sigmoid loss)."""
    if text_act not in TEXT_ACTIVATIONS:
        raise ValueError(f"unknown text activation {text_act!r}; valid choices: {', '.join(TEXT_ACTIVATIONS)}")
    if image_norm not in NORMALISATIONS:
        raise ValueError(f"unknown image normalisation {image_norm!r}; valid choices: {', '.join(NORMALISATIONS)}")
    if not known_encoder(name):
        raise ValueError(f"unknown encoder {name!r}; valid choices: {', '.join(ZOO)} (or any open_clip ViT name, or "
                         "local-dir:FOLDER with an open_clip_config.json)")
    if not 0 <= context_length <= MAX_CONTEXT:
        raise ValueError(f"context_length must lie in [0, {MAX_CONTEXT}] tokens (0: the encoder's own), "
                         f"got {context_length}")
    if local_dir(name):  # a config is data: checked (sizes, depth, memory) before open_clip builds anything
        read_model_config(local_dir(name) / CONFIG_FILE)
    mean, std = NORMALISATIONS[image_norm]
    model = open_clip.create_model(name, pretrained=None, pretrained_text=False, load_weights=False,
                                   force_context_length=context_length or None,
                                   force_preprocess_cfg={"mean": mean, "std": std}, **model_options)
    if text_act == "quick_gelu":
        _text_quick_gelu(model, name)
    encoders = Encoders(model, name)
    encoders.context_override = context_length
    return encoders


def _text_quick_gelu(model: open_clip.CLIP, name: str) -> None:
    """QuickGELU in every MLP of the text tower (what open_clip's quick_gelu=True builds there; no parameters
    change, so state dicts are the same either way)."""
    for block in model.transformer.resblocks:
        mlp = getattr(block, "mlp", None)
        if not isinstance(getattr(mlp, "gelu", None), (nn.GELU, QuickGELU)):
            raise ValueError(f"{name}: text_act=quick_gelu needs open_clip's standard text block (mlp.gelu)")
        mlp.gelu = QuickGELU()


class Encoders(nn.Module):
    """Image and text towers of one open_clip CLIP model, with token outputs and cached position interpolation."""

    def __init__(self, model: open_clip.CLIP, name: str):
        super().__init__()
        if not isinstance(model, open_clip.CLIP) or not isinstance(model.visual, VisionTransformer):
            raise ValueError(f"{name}: only open_clip CLIP models with a ViT image tower are supported")
        if model.visual.attn_pool is not None:
            raise ValueError(f"{name}: attentional pooling towers are not supported")
        self.model, self.name = model, name
        self.patch_size = model.visual.patch_size[0]
        self.image_size = model.visual.image_size[0]
        self.context_length = model.context_length
        self.context_override = 0  # a context other than the model config's (build_encoders), 0: none
        self.embed_dim = model.text_projection.shape[1]
        self.image_width = model.visual.conv1.out_channels
        self.text_width = model.transformer.width
        self._pos_cache: dict[tuple, torch.Tensor] = {}
        self.pos_interp = "size"  # methods with local crops set their configured rule (POS_INTERP)
        self._tokenizer = None

    @property
    def text_act(self) -> str:
        """The text tower's MLP activation (TEXT_ACTIVATIONS)."""
        act = getattr(getattr(self.model.transformer.resblocks[0], "mlp", None), "gelu", None)
        return "quick_gelu" if isinstance(act, QuickGELU) else "gelu"

    @property
    def image_mean(self) -> tuple[float, ...]:
        """The per-channel mean images are normalised with (the model's open_clip preprocess_cfg)."""
        return tuple(self.model.visual.preprocess_cfg["mean"])

    @property
    def image_std(self) -> tuple[float, ...]:
        return tuple(self.model.visual.preprocess_cfg["std"])

    @property
    def image_norm(self) -> str | None:
        """The NORMALISATIONS name of this model's mean and std (None: constants the suite does not name)."""
        return normalisation_name(self.image_mean, self.image_std)

    @property
    def logit_scale(self) -> nn.Parameter:
        return self.model.logit_scale

    @property
    def logit_bias(self) -> nn.Parameter | None:
        """The sigmoid loss's learnable bias (open_clip's init_logit_bias), None for a model made without one."""
        return getattr(self.model, "logit_bias", None)

    def tokenizer(self):
        """open_clip's tokenizer for this model, built once (each build logs several lines)."""
        if self._tokenizer is None:
            self._tokenizer = open_clip.get_tokenizer(self.name, context_length=self.context_length)
        return self._tokenizer

    def positional_embedding(self, gh: int, gw: int) -> torch.Tensor:
        """The (1 + gh*gw, width) positional embedding for a gh x gw patch grid, bicubically interpolated by the
        `pos_interp` rule (POS_INTERP).

        Without gradient (teacher, evaluation) the result is cached per (grid, parameter version), so it is
        computed once per resolution until the weights change. With gradient it is recomputed: the interpolation
        must sit in each step's graph anyway, and one interpolate per resolution per forward is negligible.
        """
        pe = self.model.visual.positional_embedding
        g = int(round((pe.shape[0] - 1) ** 0.5))
        if (gh, gw) == (g, g):
            return pe
        key = (gh, gw, pe._version, pe.device, pe.dtype, self.pos_interp)
        cacheable = not (torch.is_grad_enabled() and pe.requires_grad)
        if cacheable and key in self._pos_cache:
            return self._pos_cache[key]
        grid = pe[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        if self.pos_interp == "dino":
            grid = F.interpolate(grid, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g), mode="bicubic")
        else:
            grid = F.interpolate(grid.float(), size=(gh, gw), mode="bicubic", align_corners=False).to(pe.dtype)
        out = torch.cat([pe[:1], grid.permute(0, 2, 3, 1).reshape(gh * gw, -1)])
        if cacheable:
            self._pos_cache = {k: v for k, v in self._pos_cache.items() if k[2] == pe._version}
            self._pos_cache[key] = out
        return out

    def image_forward(self, x: torch.Tensor, project: bool = True, csa: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled embedding (B, D) through the visual projection, or (B, width) raw with project=False;
        patch tokens after ln_post (B, N, width)). Any input size divisible by the patch size.

        csa=True: SCLIP's correlative self-attention replaces the last block's attention (training-free dense
        features for segmentation; the block keeps its residuals and MLP, as in SCLIP's code)."""
        v = self.model.visual
        t = v.transformer
        x = _last_block(t, _all_but_last(t, self._embed(x)), csa=True) if csa else t(self._embed(x))
        pooled, tokens = v._pool(x)
        if project and v.proj is not None:
            pooled = pooled @ v.proj
        return pooled, tokens

    def dense_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(2, B, N, width) patch tokens after ln_post: plain, then with correlative self-attention in the last
        block; the blocks before the last run once for both."""
        v = self.model.visual
        h = _all_but_last(v.transformer, self._embed(x))
        return torch.stack([v._pool(_last_block(v.transformer, h, csa))[1] for csa in (False, True)])

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embedding + class token + (interpolated) positions + ln_pre: the transformer's input (B, 1+N, W)."""
        v = self.model.visual
        x = v.conv1(x)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding(gh, gw).to(x.dtype)
        return v.ln_pre(v.patch_dropout(x))

    def text_forward(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled projected embedding (B, D), token features after ln_final (B, L, text width))."""
        m = self.model
        L = text.shape[1]
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(text).to(cast) + m.positional_embedding[:L].to(cast)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:L, :L]))
        pooled = text_global_pool(x, text, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        if isinstance(m.text_projection, nn.Linear):
            pooled = m.text_projection(pooled)
        elif m.text_projection is not None:
            pooled = pooled @ m.text_projection
        return pooled, x

    def project_image_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch tokens through the visual projection (dense features in the joint space, for segmentation)."""
        proj = self.model.visual.proj
        return tokens @ proj if proj is not None else tokens

    def encode_image(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.image_forward(x)[0]
        return F.normalize(z, dim=-1) if normalize else z

    def encode_text(self, text: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.text_forward(text)[0]
        return F.normalize(z, dim=-1) if normalize else z


def correlative_attention(attn: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """SCLIP's correlative self-attention with a block's own weights, batch-first x (B, N, width), per head:
    A = softmax(q qᵀ / sqrt(d)) + softmax(k kᵀ / sqrt(d)); out = out_proj(A v)."""
    b, n, w = x.shape
    h = attn.num_heads
    q, k, v = (t.reshape(b, n, h, w // h).transpose(1, 2)
               for t in F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1))
    scale = (w // h) ** -0.5
    a = (q @ q.transpose(-2, -1) * scale).softmax(-1) + (k @ k.transpose(-2, -1) * scale).softmax(-1)
    return attn.out_proj((a @ v).transpose(1, 2).reshape(b, n, w))


def _all_but_last(transformer, x: torch.Tensor) -> torch.Tensor:
    """open_clip's Transformer blocks but the last, batch-first x in and out."""
    x = x if transformer.batch_first else x.transpose(0, 1)
    for blk in transformer.resblocks[:-1]:
        x = blk(x)
    return x if transformer.batch_first else x.transpose(0, 1)


def _last_block(transformer, x: torch.Tensor, csa: bool) -> torch.Tensor:
    """The last block on batch-first x, as open_clip runs it or with correlative self-attention (residuals and
    MLP kept, as in SCLIP's code)."""
    last = transformer.resblocks[-1]
    if not csa:
        return last(x) if transformer.batch_first else last(x.transpose(0, 1)).transpose(0, 1)
    if not isinstance(last.attn, nn.MultiheadAttention):
        raise ValueError("correlative self-attention needs open_clip's standard block (nn.MultiheadAttention)")
    x = x + last.ls_1(correlative_attention(last.attn, last.ln_1(x)))
    return x + last.ls_2(last.mlp(last.ln_2(x)))
