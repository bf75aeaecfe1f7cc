"""What happens to a training batch on the training device: photometric augmentation and normalisation.

Training crops leave the data workers as uint8 tensors (a quarter of float32's bytes to pin and copy) and are
normalised here with the encoders' mean and std (`image_norm`: CLIP's by default), exactly as ToTensor +
Normalize would have done in the worker.

With `data.augment=device` the workers only crop and flip; each crop's photometric parameters (colour jitter
factors and op order, grayscale, blur sigma, solarize) are drawn in the worker from the sample's seed, so a run
stays deterministic and resumes exactly, and travel beside the crops as `<view>@photometric`. `photometric`
then applies them to the whole batch at once, each op a vectorised version of torchvision's tensor functional
with per-crop factors (tested against torchvision crop by crop). On a GPU this takes the costliest work (the HSV
round trip of the hue jitter, the blur) off the CPU cores. The parameters follow the same distributions as the
worker path (torchvision's ColorJitter, RandomApply, RandomGrayscale; DINO's blur sigma ~ U(0.1, 2)); the
pixels differ slightly, since PIL rounds to uint8 after every op and the device path stays in float.
"""

from __future__ import annotations

import functools
import math

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torchvision.transforms._functional_tensor import _hsv2rgb, _rgb2hsv

PARAM_SUFFIX = "@photometric"
# columns of a crop's parameter row
JITTER, ORDER, FACTORS, GRAY, BLUR, SIGMA, SOLARIZE = 0, slice(1, 5), slice(5, 9), 9, 10, 11, 12
N_PARAMS = 13
SIGMA_RANGE = (0.1, 2.0)
BLUR_KERNEL = 2 * math.ceil(3 * SIGMA_RANGE[1]) + 1  # one kernel size covering +-3 sigma of the largest sigma
SOLARIZE_THRESHOLD = 128 / 255  # PIL's ImageOps.solarize(128) on uint8: values >= 128 are inverted


def draw(augment, n: int) -> torch.Tensor:
    """(n, N_PARAMS) photometric parameters for n crops with `augment` (a views.Augment), from torch's RNG.

    Every column is drawn for every crop whatever the probabilities, so the RNG advances the same way for any
    Augment."""
    u = torch.rand(n, 4)
    p = torch.zeros(n, N_PARAMS)
    p[:, ORDER] = torch.argsort(torch.rand(n, 4), dim=1).float()  # a random permutation of the 4 jitter ops
    jitter = tuple(augment.jitter) or (0.0, 0.0, 0.0, 0.0)
    ranges = [(max(0.0, 1 - j), 1 + j) for j in jitter[:3]] + [(-jitter[3], jitter[3])]
    lo, hi = torch.tensor([r[0] for r in ranges]), torch.tensor([r[1] for r in ranges])
    p[:, FACTORS] = lo + (hi - lo) * torch.rand(n, 4)
    p[:, SIGMA] = (SIGMA_RANGE[0] + (SIGMA_RANGE[1] - SIGMA_RANGE[0]) * torch.rand(n)) * augment.blur_scale
    p[:, JITTER] = (u[:, 0] < (augment.jitter_p if augment.jitter else 0.0)).float()
    p[:, GRAY] = (u[:, 1] < augment.gray).float()
    p[:, BLUR] = (u[:, 2] < augment.blur).float()
    p[:, SOLARIZE] = (u[:, 3] < augment.solarize).float()
    return p


def _gray(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)  # torchvision's rgb_to_grayscale weights


def _blend(a: torch.Tensor, b: torch.Tensor | float, ratio: torch.Tensor) -> torch.Tensor:
    return (ratio * a + (1.0 - ratio) * b).clamp(0, 1)


def _brightness(x, f):
    return _blend(x, 0.0, f)


def _contrast(x, f):
    return _blend(x, _gray(x).mean(dim=(-3, -2, -1), keepdim=True), f)


def _saturation(x, f):
    return _blend(x, _gray(x), f)


def _hue(x, f):
    h, s, v = _rgb2hsv(x).unbind(dim=-3)
    return _hsv2rgb(torch.stack(((h + f[:, :, 0]) % 1.0, s, v), dim=-3))


JITTER_OPS = (_brightness, _contrast, _saturation, _hue)  # torchvision's ColorJitter numbering of fn_idx


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """torchvision's gaussian_blur(x[i], [K, K], [sigma[i]] * 2) for each crop i, as two grouped 1-D passes."""
    n, c, h, w = x.shape
    half = (BLUR_KERNEL - 1) * 0.5
    t = torch.linspace(-half, half, BLUR_KERNEL, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma[:, None]) ** 2)
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n * c, K)
    pad = BLUR_KERNEL // 2
    y = torch.nn.functional.pad(x.reshape(1, n * c, h, w), [pad, pad, pad, pad], mode="reflect")
    y = torch.nn.functional.conv2d(y, k[:, None, None, :], groups=n * c)
    y = torch.nn.functional.conv2d(y, k[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def _where(mask: torch.Tensor, x: torch.Tensor, fn) -> torch.Tensor:
    """fn applied in place to the crops selected by mask (fn sees only those), the others unchanged."""
    idx = mask.nonzero().squeeze(1)
    if idx.numel():
        x[idx] = fn(x[idx], idx)
    return x


def photometric(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Crops x (n, 3, H, W) in [0, 1] with their parameter rows (n, N_PARAMS): colour jitter (its 4 ops in each
    crop's own order), grayscale, blur, solarize, in the worker path's order."""
    x = x.clone()  # the ops write into the selected crops
    params = params.to(x.device, x.dtype)
    jitter = params[:, JITTER] > 0
    order = params[:, ORDER].long()
    factors = params[:, FACTORS][:, :, None, None, None]  # (n, 4, 1, 1, 1)
    for position in range(4):
        for op_index, op in enumerate(JITTER_OPS):
            x = _where(jitter & (order[:, position] == op_index), x,
                       lambda xs, idx, op=op, j=op_index: op(xs, factors[idx, j]))
    x = _where(params[:, GRAY] > 0, x, lambda xs, idx: _gray(xs).expand_as(xs))
    x = _where(params[:, BLUR] > 0, x, lambda xs, idx: _blur(xs, params[idx, SIGMA]))
    return _where(params[:, SOLARIZE] > 0, x, lambda xs, idx: torch.where(xs >= SOLARIZE_THRESHOLD, 1.0 - xs, xs))


@functools.cache
def _mean_std(device: torch.device, mean: tuple[float, ...], std: tuple[float, ...]
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalisation constants on `device`, built once per device and constants (not on every step)."""
    def as_tensor(v):
        return torch.tensor(v, device=device)[:, None, None]
    return as_tensor(mean), as_tensor(std)


def to_device(batch: dict, device: torch.device, mean: tuple[float, ...] = OPENAI_DATASET_MEAN,
              std: tuple[float, ...] = OPENAI_DATASET_STD) -> dict[str, torch.Tensor]:
    """The batch on `device`, its uint8 crops (the only uint8 tensors: tokens are int64) augmented when
    parameters came with them, and normalised to float with `mean` / `std` (the encoders' image_mean / image_std).
    Float images (synthetic batches) pass through unchanged."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    mean, std = _mean_std(device, tuple(mean), tuple(std))
    for key in [k for k, v in batch.items() if v.dtype == torch.uint8]:
        x = batch[key]
        shape = x.shape
        x = x.reshape(-1, *shape[-3:]).float().div(255)
        params = batch.pop(key + PARAM_SUFFIX, None)
        if params is not None:
            x = photometric(x, params.reshape(-1, N_PARAMS))
        batch[key] = x.sub(mean).div(std).reshape(shape)
    return batch
