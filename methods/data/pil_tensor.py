"""Pillow's colour and blur arithmetic as batched torch ops, on any device, with per-crop factors.

The worker path augments each crop with torchvision's PIL functions: Pillow computes in 8-bit images, with its own
float/double mix and truncation after every op. These functions compute the same thing on float32 tensors holding
the integers 0..255 (exact in float32), one torch op per C expression, so a batch augmented on the training
device (data.augment=device, methods/data/on_device.py) gets Pillow's pixels for the same parameters. Each
function's docstring names the Pillow code it follows (Blend.c, Convert.c, BoxBlur.c, ImageEnhance, ImageOps);
tests/test_fast_views.py checks them against Pillow value for value (hue over all 2^24 colours).
"""

from __future__ import annotations

import torch

U8 = 255.0


def luma(x: torch.Tensor) -> torch.Tensor:
    """Convert.c rgb2l: L = (R x 19595 + G x 38470 + B x 7471 + 0x8000) >> 16, as (n, 1, H, W) float."""
    r, g, b = x.long().unbind(dim=-3)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).unsqueeze(-3).to(x.dtype)


def blend(a: torch.Tensor | float, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Blend.c: out = trunc(clip(in1 + alpha x (in2 - in1), 0, 255)) in float32 (ImageEnhance.enhance)."""
    return torch.floor(a + alpha * (b - a)).clamp(0, U8)


def brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """ImageEnhance.Brightness: a blend with black."""
    return blend(0.0, x, f)


def contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """ImageEnhance.Contrast: a blend with the grey of int(mean luma + 0.5) (ImageStat's sum / count)."""
    y = luma(x)
    mean = torch.floor(y.double().sum(dim=(-3, -2, -1), keepdim=True) / y[0].numel() + 0.5).to(x.dtype)
    return blend(mean, x, f)


def saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """ImageEnhance.Color: a blend with the image's luma."""
    return blend(luma(x), x, f)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """convert("L") then back to 3 channels (torchvision's rgb_to_grayscale on PIL)."""
    return luma(x).expand_as(x).clone()


def solarize(x: torch.Tensor, threshold: float = 128.0) -> torch.Tensor:
    """ImageOps.solarize: values >= threshold inverted."""
    return torch.where(x >= threshold, U8 - x, x)


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float32)


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64)


def rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Convert.c rgb2hsv_row: (H, S, V) as int64, float and double where its C does."""
    r, g, b = x.long().unbind(dim=-3)
    maxc, minc = torch.maximum(torch.maximum(r, g), b), torch.minimum(torch.minimum(r, g), b)
    grey = maxc == minc
    cr = _f32((maxc - minc).clamp(min=1))
    s = cr / _f32(maxc.clamp(min=1))
    rc, gc, bc = (_f32(maxc - c) / cr for c in (r, g, b))
    h = torch.where(r == maxc, bc - gc,
                    torch.where(g == maxc, _f32(2.0 + _f64(rc) - _f64(bc)), _f32(4.0 + _f64(gc) - _f64(rc))))
    h = _f32(torch.fmod(_f64(h) / 6.0 + 1.0, 1.0))
    uh = torch.trunc(_f64(h) * 255.0).long().clamp(0, 255)
    us = torch.trunc(_f64(s) * 255.0).long().clamp(0, 255)
    return torch.where(grey, 0, uh), torch.where(grey, 0, us), maxc


def _round(v: torch.Tensor) -> torch.Tensor:
    """C's round(): halves away from zero (torch.round takes them to even)."""
    fl = torch.floor(v)
    return fl + (v - fl >= 0.5).to(v.dtype)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Convert.c hsv2rgb, from int64 (H, S, V) to (n, 3, H, W) int64."""
    i = torch.floor(_f64(_f32(h)) * 6.0 / 255.0)
    f = _f32(_f64(_f32(h)) * 6.0 / 255.0 - i)
    fs = _f32(_f64(_f32(s)) / 255.0)
    vd = _f64(_f32(v))
    p = _round(vd * (1.0 - _f64(fs))).long().clamp(0, 255)
    q = _round(vd * (1.0 - _f64(fs * f))).long().clamp(0, 255)
    t = _round(vd * (1.0 - _f64(fs) * (1.0 - _f64(f)))).long().clamp(0, 255)
    sector = i.long() % 6
    table = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))  # colorsys' six cases
    out = [torch.zeros_like(v) for _ in range(3)]
    for k, channels in enumerate(table):
        here = sector == k
        out = [torch.where(here, c, o) for c, o in zip(channels, out)]
    rgb = torch.stack(out, dim=-3)
    return torch.where((s == 0).unsqueeze(-3), v.unsqueeze(-3).expand_as(rgb), rgb)


def hue(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_hue on PIL: H + int32(factor x 255) mod 256 between Pillow's conversions. f: float32
    factors broadcast as (n, 1, 1, 1)."""
    h, s, v = rgb_to_hsv(x)
    shift = torch.trunc(_f64(f.reshape(-1, 1, 1)) * 255.0).long()
    return hsv_to_rgb(torch.remainder(h + shift, 256), s, v).to(x.dtype)


def box_radius(sigma: torch.Tensor) -> torch.Tensor:
    """BoxBlur.c _gaussian_blur_radius(sigma, passes=3), float32 and double as there."""
    s = _f32(sigma)
    sigma2 = s * s / 3
    length = _f32(torch.sqrt(12.0 * _f64(sigma2) + 1.0))
    l = _f32(torch.floor((_f64(length) - 1.0) / 2.0))  # noqa: E741 (the C's name)
    a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2)
    a = a / (6 * (sigma2 - (l + 1) * (l + 1)))
    return l + a


def _box_pass(x: torch.Tensor, r: int, ww: torch.Tensor, fw: torch.Tensor) -> torch.Tensor:
    """BoxBlur.c ImagingLineBoxBlur along the last dim: (ww x sum of the 2r + 1 pixels around + fw x the two next
    ones + 2^23) >> 24, edges replicated. x int64."""
    n = x.shape[-1]
    idx = torch.arange(-r - 1, n + r + 1, device=x.device).clamp(0, n - 1)
    p = x[..., idx]
    cs = torch.nn.functional.pad(p.cumsum(-1), (1, 0))
    acc = cs[..., 2 * r + 2:2 * r + 2 + n] - cs[..., 1:1 + n]
    far = p[..., :n] + p[..., 2 * r + 2:2 * r + 2 + n]
    return (acc * ww + far * fw + (1 << 23)) >> 24


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """ImageFilter.GaussianBlur(sigma) (ImagingGaussianBlur: 3 horizontal box passes, then 3 vertical), each crop
    with its own sigma (n,)."""
    radius = box_radius(sigma)
    r_int = radius.long()
    ww = torch.floor(torch.tensor(float(1 << 24), device=x.device) / (radius * 2 + 1)).long()
    fw = ((1 << 24) - (r_int * 2 + 1) * ww) // 2
    out = x.long()
    for r in r_int.unique().tolist():
        sel = (r_int == r).nonzero().squeeze(1)
        y, w_, f_ = out[sel], ww[sel].view(-1, 1, 1, 1), fw[sel].view(-1, 1, 1, 1)
        for dims in ((-1,), (-2,)):
            y = y.transpose(-1, dims[0])
            for _ in range(3):
                y = _box_pass(y, r, w_, f_)
            y = y.transpose(-1, dims[0])
        out[sel] = torch.where((radius[sel] == 0).view(-1, 1, 1, 1), out[sel], y)
    return out.to(x.dtype)
