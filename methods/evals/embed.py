"""Embeddings of evaluation images and texts through the Method contract only (encode_image / encode_text)."""

from __future__ import annotations

import contextlib
import hashlib

import torch
from open_clip.transform import image_transform
from torch.utils.data import DataLoader

from .datasets import ImageSource


def device_of(method) -> torch.device:
    return next(method.parameters()).device


def eval_transform(encoders):
    """open_clip's evaluation transform (resize, centre crop, normalise) at the encoders' size and normalisation."""
    return image_transform(encoders.image_size, is_train=False, mean=encoders.image_mean, std=encoders.image_std)


_SHARED: dict | None = None  # within `shared_embeddings`: (images' identity, batch size) -> embed_images' result


@contextlib.contextmanager
def shared_embeddings():
    """Within the block, a list of images is encoded once however many evaluations embed it (retrieval and
    zero-shot classification read the same test split): the second gets the first's tensors, which are the ones
    it would have computed (the same images in the same batches through the same weights). Open it around one set
    of weights only: `evaluate` does, per call."""
    global _SHARED
    outer, _SHARED = _SHARED, {}
    try:
        yield
    finally:
        _SHARED = outer


def _identity(images) -> str:
    """A digest of a list of images (encoded bytes, or paths as given)."""
    h = hashlib.sha1()
    for image in images:
        h.update(image if isinstance(image, bytes) else str(image).encode())
        h.update(b"\0")
    return f"{len(images)}:{h.hexdigest()}"


@torch.no_grad()
def embed_images(method, images, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) normalised embeddings and an (N,) bool mask of images that decoded (corrupt ones are zero rows)."""
    key = (_identity(images), cfg.batch_size) if _SHARED is not None else None
    if key is not None and key in _SHARED:
        return _SHARED[key]
    out = _embed_images(method, images, cfg)
    if key is not None:
        _SHARED[key] = out
    return out


def _embed_images(method, images, cfg) -> tuple[torch.Tensor, torch.Tensor]:
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
