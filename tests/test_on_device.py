"""Batches on the training device: normalisation of uint8 crops, and photometric augmentation run there
(data.augment=device) equal to torchvision's PIL functions applied crop by crop, and so to the worker path."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from PIL import Image, ImageFilter, ImageOps
from torchvision import transforms as T
from torchvision.transforms import functional as F

from methods.data import on_device as D
from methods.data.views import DINO_GLOBAL2, SIMCLR, Augment, ImageView, TextView, ViewBuilder
from methods.encoders import build_encoders
from methods.train import DataConfig


def _reference(img: Image.Image, p: torch.Tensor) -> Image.Image:
    """One crop through torchvision's PIL functions (the worker path's ops), in the order its parameter row says."""
    if p[D.JITTER]:
        ops = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
        for i in p[D.ORDER].long().tolist():
            img = ops[i](img, float(p[D.FACTORS][i]))
    if p[D.GRAY]:
        img = F.rgb_to_grayscale(img, num_output_channels=3)
    if p[D.BLUR]:
        img = img.filter(ImageFilter.GaussianBlur(float(p[D.SIGMA])))
    if p[D.SOLARIZE]:
        img = ImageOps.solarize(img, 128)
    return img


def test_batched_photometric_ops_equal_the_pil_functions_crop_by_crop():
    torch.manual_seed(0)
    every = Augment(jitter=(0.4, 0.4, 0.2, 0.1), jitter_p=0.7, gray=0.3, blur=0.6, solarize=0.4)
    params = D.draw(every, 64)
    x = torch.randint(0, 256, (64, 3, 20, 24), dtype=torch.uint8)
    out = D.photometric(x.float(), params)
    expected = torch.stack([F.pil_to_tensor(_reference(F.to_pil_image(x[i]), params[i])) for i in range(64)])
    assert torch.equal(out, expected.float())
    assert not torch.equal(out, x.float())
    for col in (D.JITTER, D.GRAY, D.BLUR, D.SOLARIZE):  # each op was drawn for some crops and not for others
        assert 0 < params[:, col].sum() < 64
    assert len({tuple(r) for r in params[:, D.ORDER].tolist()}) > 4  # crops have their own jitter order


def test_drawn_parameters_follow_the_augment():
    torch.manual_seed(1)
    none = D.draw(Augment(), 500)
    assert not none[:, [D.JITTER, D.GRAY, D.BLUR, D.SOLARIZE]].any()
    p = D.draw(dataclasses.replace(DINO_GLOBAL2, blur=1.0), 500)
    factors = p[:, D.FACTORS]
    assert factors[:, 0].min() >= 0.6 and factors[:, 0].max() <= 1.4  # brightness 0.4
    assert factors[:, 2].min() >= 0.8 and factors[:, 2].max() <= 1.2  # saturation 0.2
    assert factors[:, 3].abs().max() <= 0.1  # hue 0.1
    assert p[:, D.BLUR].all() and D.SIGMA_RANGE[0] <= p[:, D.SIGMA].min() and p[:, D.SIGMA].max() <= D.SIGMA_RANGE[1]
    assert abs(p[:, D.SOLARIZE].mean() - 0.2) < 0.06 and abs(p[:, D.JITTER].mean() - 0.8) < 0.06
    assert sorted(p[0, D.ORDER].tolist()) == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def tokenizer():
    return build_encoders("ViT-Micro-8-32").tokenizer()


SAMPLE = {"image": Image.effect_mandelbrot((48, 40), (-2, -1.5, 1, 1.5), 60).convert("RGB"),
          "captions": {"raw_caption": ["a shape on a backdrop"]}}


def test_worker_crops_normalised_on_device_equal_the_float_pipeline(tokenizer):
    """The workers' uint8 crops, normalised by to_device, are bit-identical to ToTensor + Normalize in the worker
    (the pipeline before this change), so logged runs reproduce."""
    views = {"a": ImageView(32, augment=SIMCLR, n=3), "b": ImageView(24, scale=(0.5, 1.0))}
    built = ViewBuilder(views, tokenizer)(SAMPLE, seed=7)
    assert built["a"].dtype == torch.uint8 and built["a"].shape == (3, 3, 32, 32)
    batch = D.to_device({k: v[None] for k, v in built.items()}, torch.device("cpu"))
    from methods.data.views import PILGaussianBlur

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        old = T.Compose([T.RandomResizedCrop(32, scale=(0.9, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                         T.RandomHorizontalFlip(0.5), T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                         T.RandomGrayscale(0.2), T.RandomApply([PILGaussianBlur()], p=0.5), T.ToTensor(),
                         T.Normalize(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)])
        expected = torch.stack([old(SAMPLE["image"]) for _ in range(3)])
    assert batch["a"].dtype == torch.float32 and torch.equal(batch["a"][0], expected)


def test_device_augmentation_draws_in_the_worker_and_applies_on_the_device(tokenizer):
    """The device placement gives the worker path's batch bit for bit: the same draws, Pillow's arithmetic."""
    views = {"g": ImageView(32, augment=DINO_GLOBAL2), "l": ImageView(16, augment=SIMCLR, n=4), "t": TextView()}
    builder = ViewBuilder(views, tokenizer, augment="device")
    built = builder(SAMPLE, seed=3)
    assert built["g@photometric"].shape == (D.N_PARAMS,) and built["l@photometric"].shape == (4, D.N_PARAMS)
    assert all(torch.equal(built[k], v) for k, v in builder(SAMPLE, seed=3).items())  # the sample seed decides
    batch = D.to_device({k: torch.stack([v, v]) for k, v in built.items()}, torch.device("cpu"))
    assert set(batch) == set(views) and batch["l"].shape == (2, 4, 3, 16, 16) and batch["l"].dtype == torch.float32
    workers = ViewBuilder(views, tokenizer)
    for seed in range(8):
        on_device = D.to_device({k: v[None] for k, v in builder(SAMPLE, seed).items()}, torch.device("cpu"))
        in_workers = D.to_device({k: v[None] for k, v in workers(SAMPLE, seed).items()}, torch.device("cpu"))
        assert all(torch.equal(on_device[k], in_workers[k]) for k in views), seed


def test_unknown_augment_placement_names_the_choices(tokenizer):
    with pytest.raises(ValueError, match="workers, device"):
        DataConfig(augment="gpu")
    with pytest.raises(ValueError, match="workers, device"):
        ViewBuilder({"t": TextView()}, tokenizer, augment="cuda")
