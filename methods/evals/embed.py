"""Embeddings of evaluation images and texts through the Method contract only (encode_image / encode_text)."""

from __future__ import annotations

import torch
from open_clip.transform import image_transform
from torch.utils.data import DataLoader

from .datasets import ImageSource


def device_of(method) -> torch.device:
    return next(method.parameters()).device


def eval_transform(encoders):
    """open_clip's evaluation transform (resize, centre crop, normalise) at the encoders' size and normalisation."""
    return image_transform(encoders.image_size, is_train=False, mean=encoders.image_mean, std=encoders.image_std)


@torch.no_grad()
def embed_images(method, images, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) normalised embeddings and an (N,) bool mask of images that decoded (corrupt ones are zero rows)."""
    size = method.encoders.image_size
    tf = eval_transform(method.encoders)
    loader = DataLoader(ImageSource(images, tf, size), batch_size=cfg.batch_size, num_workers=cfg.workers)
    device = device_of(method)
    embs, oks = [], []
    for x, ok in loader:
        embs.append(method.encode_image(x.to(device)).float().cpu())
        oks.append(ok.bool())
    return torch.cat(embs), torch.cat(oks)


@torch.no_grad()
def embed_texts(method, texts: list[str], batch_size: int) -> torch.Tensor:
    tok = method.encoders.tokenizer()
    device = device_of(method)
    return torch.cat([method.encode_text(tok(texts[i:i + batch_size]).to(device)).float().cpu()
                      for i in range(0, len(texts), batch_size)])


def text_encoder(method):
    """encode_text on the method's device, returning float CPU rows (for class / prompt embeddings)."""
    device = device_of(method)
    return lambda t: method.encode_text(t.to(device)).float().cpu()
