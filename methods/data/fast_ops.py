"""Faster worker-side view ops, drop-ins for the torchvision ones the PIL path uses (`data.view_ops`).

Each class here subclasses the torchvision transform it stands for and keeps its draws, so the random parameters
come from the same calls in the same order: for one seed every path sees the same crop boxes, flips, jitter
factors and op order, grayscale, blur and solarize draws.

- "exact": the same pixels (tested bit for bit), less work: the hue shift (Pillow's RGB -> HSV, H + shift mod 256,
  HSV -> RGB; 1.9 ms of a 224-px crop, the costliest op of a DINO view) becomes two gathers, from a table of every
  RGB colour's HSV and one of every HSV triple's RGB, both made by Pillow's own conversions (exact by
  construction; 2 x 64 MB per process, built once in ~2 s). The other ops are torchvision's PIL functions
  (Pillow's C is as fast as a table for them). Texts: methods.data.token_cache.
- "fast": "exact" with the crop resized by torch's uint8 antialiased kernel (bicubic or bilinear) from the source
  converted to a tensor once per sample, instead of Pillow's resample: ~3.5x faster, not bit-equal (Pillow
  rounds its filter weights to 22 bits, torch's kernel to 16; benchmarks/README.md has the measured difference).
With data.augment=device the photometric ops leave the workers altogether (methods/data/on_device.py, Pillow's
arithmetic on the training device).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import ColorJitter, InterpolationMode, RandomResizedCrop
from torchvision.transforms import functional as F

VIEW_OPS = ("pil", "exact", "fast")


class Source:
    """One decoded training image, with its uint8 tensor (1, 3, H, W) in channels-last memory made once on first
    use and shared by every crop of the sample (the "fast" resize reads it)."""

    def __init__(self, image: Image.Image):
        self.image = image
        self._tensor = None

    @property
    def tensor(self) -> torch.Tensor:
        if self._tensor is None:
            self._tensor = torch.from_numpy(np.array(self.image)).permute(2, 0, 1)[None]
        return self._tensor


def source_image(img) -> Image.Image:
    return img.image if isinstance(img, Source) else img


class ResizedCrop(RandomResizedCrop):
    """RandomResizedCrop of a Source: the box drawn as torchvision draws it; resized by Pillow ("exact", the
    same pixels as crop + resize) or by torch's uint8 antialiased kernel ("fast")."""

    def __init__(self, *args, tensor: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.tensor = tensor

    def forward(self, src):
        image = source_image(src)
        i, j, h, w = self.get_params(image, self.scale, self.ratio)
        if not self.tensor:
            return image.crop((j, i, j + w, i + h)).resize(tuple(self.size[::-1]), _pil_filter(self.interpolation))
        x = (src.tensor if isinstance(src, Source) else Source(image).tensor)[:, :, i:i + h, j:j + w]
        # a channels-last box in, a channels-last crop out: torch's AVX path, and an (h, w, 3) array for Pillow
        y = torch.nn.functional.interpolate(x.contiguous(memory_format=torch.channels_last), size=tuple(self.size),
                                            mode=self.interpolation.value, antialias=True)
        return Image.fromarray(y[0].permute(1, 2, 0).numpy())


def _pil_filter(mode: InterpolationMode) -> Image.Resampling:
    return {InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
            InterpolationMode.BILINEAR: Image.Resampling.BILINEAR}[mode]


@functools.cache
def hue_tables() -> tuple[np.ndarray, np.ndarray]:
    """(RGB -> HSV, HSV -> RGB) over all 2^24 values, each indexed and valued by a uint32 packing byte 0 | byte 1
    << 8 | byte 2 << 16 (the little-endian reading of an RGBX / HSVX pixel), from Pillow's own conversions."""
    every = np.arange(1 << 24, dtype=np.uint32).view(np.uint8).reshape(4096, 4096, 4)
    tables = []
    for src, dst in (("RGB", "HSV"), ("HSV", "RGB")):
        image = Image.frombytes(src, (4096, 4096), np.ascontiguousarray(every[..., :3]).tobytes())
        out = np.asarray(image.convert(dst).convert("RGBX") if dst == "RGB" else _as_x(image.convert(dst)))
        tables.append(out.view(np.uint32).reshape(-1) & 0xFFFFFF)
    return tables[0], tables[1]


def _as_x(hsv: Image.Image) -> np.ndarray:
    """An HSV image's bytes as (H, W, 4) with a zero fourth byte."""
    out = np.zeros((hsv.height, hsv.width, 4), np.uint8)
    out[..., :3] = np.asarray(hsv)
    return out


def hue(img: Image.Image, factor: float) -> Image.Image:
    """F.adjust_hue (Pillow's RGB -> HSV, H + int(factor x 255) mod 256, HSV -> RGB), as two table gathers."""
    to_hsv, to_rgb = hue_tables()
    shift = int(np.int32(factor * 255).astype(np.uint8))
    packed = np.asarray(img.convert("RGBX")).view(np.uint32)[..., 0] & 0xFFFFFF
    hsv = np.take(to_hsv, packed)
    rgb = np.take(to_rgb, (hsv & 0xFFFF00) | ((hsv + shift) & 0xFF))
    return Image.frombuffer("RGBX", img.size, rgb, "raw", "RGBX", 0, 1).convert("RGB")


class FastColorJitter(ColorJitter):
    """ColorJitter with torchvision's draws (get_params: op order, then each factor) and the hue tables."""

    def forward(self, img):
        fn_idx, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        for fn_id in fn_idx:
            if fn_id == 0 and b is not None:
                img = F.adjust_brightness(img, b)
            elif fn_id == 1 and c is not None:
                img = F.adjust_contrast(img, c)
            elif fn_id == 2 and s is not None:
                img = F.adjust_saturation(img, s)
            elif fn_id == 3 and h is not None:
                img = hue(img, h)
        return img
