"""View specifications a method declares, and the builder that turns one decoded sample into those views.

A method's `views` maps batch keys to specs; the data pipeline builds exactly those keys, nothing else. Specs are
frozen dataclasses (pure data, picklable into DataLoader workers). Randomness comes from the per-sample seed the
stream hands in, so a sample's views depend only on (run seed, stream position): that is what makes resume exact.

Shapes per sample: an ImageView with n == 1 gives (3, H, W), with n > 1 (n, 3, H, W) (multi-crop: all crops of
one resolution, so the method encodes them in one pass); a TextView gives (L,) for one text, else (n, L).
Training crops are uint8; the loop normalises them on the device (methods.data.on_device), where with
augment="device" their photometric augmentation also runs, from parameters drawn here (`<key>@photometric`).
"""

from __future__ import annotations

import dataclasses
import random

import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from . import fast_ops, on_device
from .text import CAPTION_MODES, all_captions, caption_pool, join_sentences, pick_caption
from .token_cache import SentenceTokenizer


@dataclasses.dataclass(frozen=True)
class Augment:
    """Photometric augmentations after the crop, each applied with its probability (0 = off)."""

    flip: float = 0.0
    jitter: tuple[float, ...] = ()  # ColorJitter (brightness, contrast, saturation, hue); () = off
    jitter_p: float = 0.8
    gray: float = 0.0
    blur: float = 0.0  # Gaussian blur, sigma ~ U(0.1, 2) x blur_scale
    solarize: float = 0.0  # threshold 128
    blur_scale: float = 1.0  # the blur sigma's scale (crop size / official size under a scaled views rule)


NO_AUGMENT = Augment()
# SLIP's SSL views (SimCLR pipeline; methods.md): jitter (0.4, 0.4, 0.4, 0.1) p .8, gray .2, blur .5, flip.
SIMCLR = Augment(flip=0.5, jitter=(0.4, 0.4, 0.4, 0.1), gray=0.2, blur=0.5)
# DINO multi-crop (COSMOS official): jitter (0.4, 0.4, 0.2, 0.1) p .8, gray .2; blur 1.0 / 0.1 / 0.5 on
# global-1 / global-2 / locals; solarize 0.2 on global-2 only.
_DINO = Augment(flip=0.5, jitter=(0.4, 0.4, 0.2, 0.1), gray=0.2)
DINO_GLOBAL1 = dataclasses.replace(_DINO, blur=1.0)
DINO_GLOBAL2 = dataclasses.replace(_DINO, blur=0.1, solarize=0.2)
DINO_LOCAL = dataclasses.replace(_DINO, blur=0.5)


INTERPOLATIONS = ("bicubic", "bilinear")


@dataclasses.dataclass(frozen=True)
class ImageView:
    """n crops at `size` px: RandomResizedCrop(scale, interpolation) + `augment` (train), or resize + centre
    crop."""

    size: int
    scale: tuple[float, float] = (0.9, 1.0)
    train: bool = True
    augment: Augment = NO_AUGMENT
    n: int = 1
    interpolation: str = "bicubic"  # of the crop's resize: bicubic (CLIP, DINO, COSMOS) or bilinear (SLIP)

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; valid choices: "
                             f"{', '.join(INTERPOLATIONS)}")
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop scale must satisfy 0 < lo <= hi <= 1, got {self.scale}")
        if self.n < 1 or self.size < 1:
            raise ValueError(f"an image view needs n >= 1 crops of size >= 1, got n={self.n}, size={self.size}")


TEXT_MODES = CAPTION_MODES + ("textcrop",)
LOCAL_TEXT = ("sentence", "masked", "caption", "subcaption")
# How text crops draw from a sample's sentence pool:
# - "official": COSMOS's `sample_dict` + `random_sample_from_list`: each global crop takes k ~ U{1..max_sentences}
#   sentences (the ks drawn first, then the crops), joined with ". " and no final period; a pool smaller than k
#   is repeated whole k // n times plus k % n sentences sampled without replacement; local texts are one such
#   draw of n_local sentences, as they are.
# - "capped": the suite's earlier rule: k capped at the pool size (no sentence twice in one crop) and every text
#   ending in "."; kept so runs logged with it keep their meaning.
TEXT_CROPS = ("official", "capped")


@dataclasses.dataclass(frozen=True)
class TextView:
    """n_global + n_local tokenised texts, in that order.

    Global texts: a caption by `mode` (raw / random / short / long, see methods.data.text.pick_caption), or
    "textcrop" (COSMOS): k ~ U{1..max_sentences} sentences of the sample's sentence pool, drawn by the `crops`
    rule (TEXT_CROPS). Local texts: "sentence" = single sentences, one draw of n_local from the pool (a smaller
    pool is repeated whole, then the remainder sampled); "masked"
    (DeCLIP-style, for the text-cropping ablation) = global text i mod n_global with each word dropped with
    probability mask_ratio (CLIP's BPE vocabulary has no mask token, so masked words are removed); "caption" =
    whole captions: all n texts, global and local, are one draw from the caption mode's pool (the official
    `sample_dict` for caption modes other than textcrop: `random_sample_from_list(pool, k)`).
    """

    mode: str = "random"
    n_global: int = 1
    n_local: int = 0
    max_sentences: int = 5
    local: str = "sentence"
    mask_ratio: float = 0.15
    crops: str = "official"

    def __post_init__(self):
        if self.crops not in TEXT_CROPS:
            raise ValueError(f"unknown text_crops {self.crops!r}; valid choices: {', '.join(TEXT_CROPS)}")
        if self.mode not in TEXT_MODES:
            raise ValueError(f"unknown caption mode {self.mode!r}; valid choices: {', '.join(TEXT_MODES)}")
        if self.local not in LOCAL_TEXT:
            raise ValueError(f"unknown local text view {self.local!r}; valid choices: {', '.join(LOCAL_TEXT)}")
        if self.local == "caption" and self.mode == "textcrop":
            raise ValueError("local text view 'caption' draws whole captions of a caption mode (raw, random, short, "
                             "long), not text crops")
        if self.n_global < 1 or self.n_local < 0 or self.max_sentences < 1 or not 0 <= self.mask_ratio < 1:
            raise ValueError(f"bad text view counts: {self}")

    @property
    def n(self) -> int:
        return self.n_global + self.n_local


def sentence_pool(record: dict) -> list[str]:
    """Every sentence of every caption of a record (raw, short, long), in record order."""
    return [s for caption in all_captions(record) for s in caption]


def local_sentences(pool: list[str], n: int, rng: random.Random, rule: str = "official") -> list[str]:
    """n sentences (the official `random_sample_from_list`): a pool of at least n gives one draw without
    replacement; a smaller pool is repeated whole n // len(pool) times, then topped up by n % len(pool) sampled
    ones. The "capped" rule returned a pool of exactly n unshuffled (kept for runs logged with it)."""
    whole, rest = divmod(n, len(pool))
    if rule == "official" and len(pool) >= n:
        return rng.sample(pool, n)
    return pool * whole + rng.sample(pool, rest) if whole else rng.sample(pool, n)


def recaption_pool(record: dict) -> list[str]:
    """The sentences of a record's synthetic captions (short, then long), without the alt-text: what DreamLIP's
    sub-captions are drawn from (its `long_captions`: every generated caption split into sentences)."""
    return [s for caption in list(record.get("short_captions") or []) + list(record.get("long_captions") or [])
            for s in caption]


def subcaptions(pool: list[str], n: int, rng: random.Random) -> list[str]:
    """n sub-captions as DreamLIP's `draw_numbers(len(pool) - 1, n)` picks them (training/data.py): indices of
    range(len(pool) - 1), without replacement when there are at least n, else with replacement (so the pool's last
    sentence is never drawn, as in the official code). Where the official code raises (a pool of one sentence or
    none) the pool itself is repeated, and an empty pool gives no text (the caller falls back)."""
    population = pool[:-1] or pool
    if not population:
        return []
    return rng.sample(population, n) if len(population) >= n else rng.choices(population, k=n)


def text_crops(pool: list[str], n: int, max_sentences: int, rng: random.Random, rule: str = "official") -> list[str]:
    """n global text crops of k ~ U{1..max_sentences} sentences each (see TEXT_CROPS for the rules)."""
    if rule == "capped":
        return [join_sentences(rng.sample(pool, rng.randint(1, min(max_sentences, len(pool))))) for _ in range(n)]
    ks = [rng.randint(1, max_sentences) for _ in range(n)]  # all ks first, as the official code draws them
    return [". ".join(local_sentences(pool, k, rng)) for k in ks]


def mask_words(text: str, ratio: float, rng: random.Random) -> str:
    """The text with each word dropped with probability `ratio` (at least one word kept)."""
    words = text.split()
    kept = [w for w in words if rng.random() >= ratio]
    return " ".join(kept or words[:1])


def build_texts(record: dict, spec: TextView, rng: random.Random) -> list[str]:
    if spec.local == "caption":  # the official caption modes: k whole captions in one draw
        return local_sentences(caption_pool(record, spec.mode), spec.n, rng)
    pool = sentence_pool(record)
    if spec.mode == "textcrop":
        globals_ = text_crops(pool, spec.n_global, spec.max_sentences, rng, spec.crops)
    else:
        globals_ = [pick_caption(record, spec.mode, rng) for _ in range(spec.n_global)]
    if spec.local == "subcaption":  # DreamLIP: a record without synthetic captions draws from its sentences
        locals_ = subcaptions(recaption_pool(record), spec.n_local, rng) or subcaptions(pool, spec.n_local, rng)
    elif spec.local == "sentence":
        end = "." if spec.crops == "capped" else ""
        locals_ = [s + end for s in local_sentences(pool, spec.n_local, rng, spec.crops)] if spec.n_local else []
    else:
        locals_ = [mask_words(globals_[i % spec.n_global], spec.mask_ratio, rng) for i in range(spec.n_local)]
    return globals_ + locals_


class PILGaussianBlur:
    """DINO's blur: PIL's Gaussian filter with radius ~ U(0.1, 2) px (x scale), drawn from torch's RNG (seeded per
    sample). PIL's C filter took 0.8 ms per 224-px crop against 3.6 ms for torchvision's tensor convolution
    (profiled)."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def __call__(self, img: Image.Image) -> Image.Image:
        radius = (0.1 + 1.9 * float(torch.rand(()))) * self.scale
        return img.filter(ImageFilter.GaussianBlur(radius))


AUGMENT_ON = ("workers", "device")


def image_pipeline(spec: ImageView, photometric: bool = True, ops: str = "pil"):
    """The torchvision transform of one crop of `spec`, a uint8 tensor normalised on the device (on_device): when
    training a crop and flip, then with `photometric` the PIL colour ops; for eval open_clip's resize + centre crop.
    `ops` (fast_ops.VIEW_OPS): "pil" = torchvision's transforms; "exact" / "fast" = fast_ops' drop-ins for the crop
    and the colour jitter (same draws; the training pipeline then takes a fast_ops.Source)."""
    if not spec.train:
        return T.Compose([T.Resize(spec.size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(spec.size),
                          T.PILToTensor()])
    if ops not in fast_ops.VIEW_OPS:
        raise ValueError(f"unknown view ops {ops!r}; valid choices: {', '.join(fast_ops.VIEW_OPS)}")
    a, mode = spec.augment, T.InterpolationMode(spec.interpolation)
    pil = ops == "pil"
    crop = T.RandomResizedCrop(spec.size, scale=spec.scale, interpolation=mode) if pil else \
        fast_ops.ResizedCrop(spec.size, scale=spec.scale, interpolation=mode, tensor=ops == "fast")
    steps = [crop]
    if a.flip:
        steps.append(T.RandomHorizontalFlip(a.flip))
    if photometric and a.jitter:
        steps.append(T.RandomApply([(T.ColorJitter if pil else fast_ops.FastColorJitter)(*a.jitter)], p=a.jitter_p))
    if photometric and a.gray:
        steps.append(T.RandomGrayscale(a.gray))
    if photometric and a.blur:
        steps.append(T.RandomApply([PILGaussianBlur(a.blur_scale)], p=a.blur))
    if photometric and a.solarize:
        steps.append(T.RandomSolarize(128, p=a.solarize))
    return T.Compose([*steps, T.PILToTensor()])


class ViewBuilder:
    """Builds a dict of view tensors from a decoded sample {"image": PIL, "captions": record}.

    augment: where the photometric augmentations run, "workers" (PIL, here) or "device" (here only their
    parameters are drawn; methods.data.on_device applies them to the batch).
    ops: how the worker-side ops run (fast_ops.VIEW_OPS): "pil" (torchvision's transforms, tokenising every text),
    "exact" (the same tensors, faster: fast_ops' crop and hue, each sentence tokenised once), "fast" (exact with
    torch's uint8 resize; near-equal pixels)."""

    def __init__(self, views: dict[str, object], tokenizer, augment: str = "workers", ops: str = "pil"):
        if augment not in AUGMENT_ON:
            raise ValueError(f"unknown augment placement {augment!r}; valid choices: {', '.join(AUGMENT_ON)}")
        if ops not in fast_ops.VIEW_OPS:
            raise ValueError(f"unknown view ops {ops!r}; valid choices: {', '.join(fast_ops.VIEW_OPS)}")
        self.views, self.ops = dict(views), ops
        self.tokenizer = tokenizer if ops == "pil" or tokenizer is None else SentenceTokenizer(tokenizer)
        for key, spec in self.views.items():  # a bad spec is a programming error: fail here, not per sample
            if not isinstance(spec, (ImageView, TextView)):
                raise TypeError(f"view {key!r}: unknown spec type {type(spec).__name__}")
        images = {k: v for k, v in self.views.items() if isinstance(v, ImageView)}
        self._device_params = {k for k, v in images.items() if augment == "device" and v.train}
        self._transforms = {k: image_pipeline(v, k not in self._device_params, ops if v.train else "pil")
                            for k, v in images.items()}
        if ops != "pil" and any(v.train and v.augment.jitter and k not in self._device_params
                                for k, v in images.items()):
            fast_ops.hue_tables()  # built before the loader forks its workers, which then share them

    def __call__(self, sample: dict, seed: int) -> dict[str, torch.Tensor]:
        rng = random.Random(seed)
        out = {}
        image = sample["image"]
        source = fast_ops.Source(image) if self.ops != "pil" else image  # one tensor of the image for every crop
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for key, spec in self.views.items():
                if isinstance(spec, ImageView):
                    src = source if spec.train else image
                    crops, params = [], []
                    for _ in range(spec.n):  # each crop's photometric draws right after its box and flip
                        crops.append(self._transforms[key](src))
                        if key in self._device_params:
                            params.append(on_device.draw(spec.augment)[0])
                    out[key] = crops[0] if spec.n == 1 else torch.stack(crops)
                    if params:
                        out[key + on_device.PARAM_SUFFIX] = params[0] if spec.n == 1 else torch.stack(params)
                else:
                    tokens = self.tokenizer(build_texts(sample["captions"], spec, rng))
                    out[key] = tokens[0] if spec.n == 1 else tokens
        return out


def random_batch(views: dict[str, object], batch: int, context_length: int, length: int | None = None,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors shaped as the pipeline would build `views` (for FLOP counts, benchmarks and tests): images
    ~ N(0, 1); token ids with `length` real tokens (EOT last, default the whole context) then padding 0."""
    g = torch.Generator().manual_seed(seed)
    length = length or context_length
    out = {}
    for key, spec in views.items():
        if isinstance(spec, ImageView):
            shape = (batch, 3, spec.size, spec.size) if spec.n == 1 else (batch, spec.n, 3, spec.size, spec.size)
            out[key] = torch.randn(shape, generator=g)
        else:
            tok = torch.randint(1, 49000, (batch, spec.n, context_length) if spec.n > 1 else (batch, context_length),
                                generator=g)
            tok[..., length:] = 0
            tok[..., length - 1] = 49407  # open_clip's end-of-text id
            out[key] = tok
    return out
