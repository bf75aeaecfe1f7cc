"""What happens to a training batch on the training device: photometric augmentation and normalisation.

Training crops leave the data workers as uint8 tensors (a quarter of float32's bytes to pin and copy) and are
normalised here with the encoders' mean and std (`image_norm`: CLIP's by default), exactly as ToTensor +
Normalize would have done in the worker.

With `data.augment=device` the workers only crop and flip; each crop's photometric parameters (colour jitter
factors and op order, grayscale, blur sigma, solarize) are drawn in the worker from the sample's seed, by the
calls and in the order of the worker path (so both placements see the same boxes, flips and factors), and travel
beside the crops as `<view>@photometric`; a run stays deterministic and resumes exactly. `photometric`
then applies them to the whole batch at once, each op Pillow's own arithmetic as batched torch ops with per-crop
factors (methods/data/pil_tensor.py): the same pixels as the worker path for the same seed (tested against
torchvision's PIL functions), the placement changing where the work runs, not the views. On a GPU this takes the
costliest work (the HSV round trip of the hue jitter, the blur) off the CPU cores.
"""

from __future__ import annotations

import functools

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torchvision.transforms import ColorJitter

from . import pil_tensor as P

PARAM_SUFFIX = "@photometric"
# columns of a crop's parameter row
JITTER, ORDER, FACTORS, GRAY, BLUR, SIGMA, SOLARIZE = 0, slice(1, 5), slice(5, 9), 9, 10, 11, 12
N_PARAMS = 13
SIGMA_RANGE = (0.1, 2.0)
NEUTRAL = (1.0, 1.0, 1.0, 0.0)  # jitter factors that leave a crop unchanged (an op torchvision leaves out)


def draw(augment, n: int = 1) -> torch.Tensor:
    """(n, N_PARAMS) photometric parameters for n crops with `augment` (a views.Augment), from torch's RNG by the
    calls the worker path's torchvision transforms make, in their order (views.image_pipeline: RandomApply +
    ColorJitter.get_params, RandomGrayscale, RandomApply + the blur's sigma, RandomSolarize). Drawn right after
    each crop's box and flip, the rows are the ones the worker path applies for the same seed: a sample's views
    differ between the placements only by how the ops compute. An op that is off draws nothing (as there)."""
    jitter = _jitter(tuple(augment.jitter)) if augment.jitter else None
    return torch.stack([_draw_one(augment, jitter) for _ in range(n)])


@functools.lru_cache(maxsize=64)
def _jitter(strengths: tuple[float, ...]) -> ColorJitter:
    """ColorJitter's factor ranges for jitter strengths (built once: draws happen per crop)."""
    return ColorJitter(*strengths)


def _draw_one(augment, jitter) -> torch.Tensor:
    p = torch.zeros(N_PARAMS)
    p[ORDER] = torch.arange(4.0)
    p[FACTORS] = torch.tensor(NEUTRAL)
    if jitter is not None and not augment.jitter_p < torch.rand(1):
        order, *factors = ColorJitter.get_params(jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue)
        p[JITTER], p[ORDER] = 1.0, order.float()
        p[FACTORS] = torch.tensor([n if f is None else f for n, f in zip(NEUTRAL, factors)])
    if augment.gray and torch.rand(1) < augment.gray:
        p[GRAY] = 1.0
    if augment.blur and not augment.blur < torch.rand(1):
        p[BLUR], p[SIGMA] = 1.0, (SIGMA_RANGE[0] + (SIGMA_RANGE[1] - SIGMA_RANGE[0]) * float(torch.rand(()))) \
            * augment.blur_scale
    if augment.solarize and torch.rand(1).item() < augment.solarize:
        p[SOLARIZE] = 1.0
    return p


JITTER_OPS = (P.brightness, P.contrast, P.saturation, P.hue)  # torchvision's ColorJitter numbering of fn_idx


def _where(mask: torch.Tensor, x: torch.Tensor, fn) -> torch.Tensor:
    """fn applied to the crops selected by mask (fn sees only those), the others unchanged."""
    idx = mask.nonzero().squeeze(1)
    if idx.numel():
        x[idx] = fn(x[idx], idx)
    return x


def photometric(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Crops x (n, 3, H, W) of float integers 0..255 with their parameter rows (n, N_PARAMS): colour jitter (its
    4 ops in each crop's own order), grayscale, blur, solarize, in the worker path's order, each with Pillow's
    arithmetic (methods.data.pil_tensor): the worker path's pixels for the same rows."""
    x = x.clone()  # the ops write into the selected crops
    params = params.to(x.device, torch.float32)
    jitter = params[:, JITTER] > 0
    order = params[:, ORDER].long()
    factors = params[:, FACTORS][:, :, None, None, None]  # (n, 4, 1, 1, 1)
    for position in range(4):
        for op_index, op in enumerate(JITTER_OPS):
            x = _where(jitter & (order[:, position] == op_index), x,
                       lambda xs, idx, op=op, j=op_index: op(xs, factors[idx, j]))
    x = _where(params[:, GRAY] > 0, x, lambda xs, idx: P.grayscale(xs))
    x = _where(params[:, BLUR] > 0, x, lambda xs, idx: P.gaussian_blur(xs, params[idx, SIGMA]))
    return _where(params[:, SOLARIZE] > 0, x, lambda xs, idx: P.solarize(xs))


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
        x = x.reshape(-1, *shape[-3:]).float()
        params = batch.pop(key + PARAM_SUFFIX, None)
        if params is not None:
            x = photometric(x, params.reshape(-1, N_PARAMS))
        batch[key] = x.div(255).sub(mean).div(std).reshape(shape)
    return batch
