"""Attention and similarity maps for figures (COSMOS paper Fig. 3/4 style), saved with a run as an .npz file.

For any method: the patch-to-text similarity map, cosine of each projected patch token with the caption's
embedding. For methods with cross-attention (COSMOS): the text-side cross-attention weights over image patches
and the image-side weights over caption tokens. Every map is min-max normalised to [0, 1] per sample.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.text import join_sentences
from .embed import eval_transform
from .scenesets import read_split


def _unit_range(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp(min=1e-8)).reshape(x.shape)


@torch.no_grad()
def patch_text_maps(method, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, gh, gw) in [0, 1]: cosine of each patch (Method.image_tokens) with its caption's embedding."""
    patches = method.image_tokens(images)  # (B, N, D) normalised
    text = method.encode_text(tokens)  # (B, D) normalised
    g = images.shape[-1] // method.encoders.patch_size
    return _unit_range(torch.einsum("bnd,bd->bn", patches, text).reshape(-1, g, g))


def token_strings(tokenizer, tokens: torch.Tensor) -> list[list[str]]:
    """The BPE pieces of each tokenised caption (start, end and padding dropped)."""
    dec = getattr(tokenizer, "decoder", {})
    sot, eot = getattr(tokenizer, "sot_token_id", None), getattr(tokenizer, "eot_token_id", None)
    return [[dec.get(int(t), "?").replace("</w>", "") for t in row if int(t) not in (0, sot, eot)]
            for row in tokens]


@torch.no_grad()
def attention_maps(method, scenes: Path, n: int = 8) -> dict[str, np.ndarray]:
    """Maps for the first n test images of the benchmark with their first long caption."""
    samples = read_split(scenes, "test")[:n]
    size = method.encoders.image_size
    tf = eval_transform(method.encoders)
    pil = [Image.open(io.BytesIO(s["jpg"])).convert("RGB") for s in samples]
    device = next(method.parameters()).device
    images = torch.stack([tf(p) for p in pil]).to(device)
    captions = [join_sentences(s["meta"]["long_captions"][0]) for s in samples]
    tokenizer = method.encoders.tokenizer()
    tokens = tokenizer(captions).to(device)
    out = {"images": np.stack([np.asarray(p.resize((size, size))) for p in pil]),
           "captions": np.array(captions), "patch_text": patch_text_maps(method, images, tokens).cpu().numpy()}
    pieces = token_strings(tokenizer, tokens.cpu())
    out["tokens"] = np.array([" ".join(p) for p in pieces])
    for k, v in method.cross_attention_maps(images, tokens).items():  # none for methods without cross-attention
        out[k] = _unit_range(v).cpu().numpy()
    return out


def save_maps(maps: dict[str, np.ndarray], path: Path) -> Path:
    np.savez_compressed(path, **maps)
    return path


def upsample(maps: np.ndarray, size: int) -> np.ndarray:
    """(B, gh, gw) -> (B, size, size) bilinear, for overlays."""
    return F.interpolate(torch.from_numpy(maps)[:, None].float(), size=(size, size), mode="bilinear",
                         align_corners=False)[:, 0].numpy()
