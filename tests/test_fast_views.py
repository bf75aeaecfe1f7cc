"""data.view_ops: the "exact" worker ops build the PIL path's tensors bit for bit, "fast" differs only in the
resize (bounded here, measured in benchmarks/README.md), the sentence tokenizer gives the tokenizer's ids, and
data.augment=device draws each crop's photometric parameters as the worker path does; Pillow's arithmetic in torch
(methods/data/pil_tensor.py) equals Pillow's."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T
from torchvision.transforms import functional as F

from experiments import config as C
from experiments.errors import ConfigError
from experiments.fingerprint import fingerprint
from methods.cosmos import COSMOSConfig
from methods.data import fast_ops
from methods.data import on_device as D
from methods.data import pil_tensor as P
from methods.data.token_cache import SentenceTokenizer
from methods.data.views import SIMCLR, ImageView, TextView, ViewBuilder, image_pipeline
from methods.multicrop import multicrop_views


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-16")


def photo(seed: int, size=(120, 90)) -> Image.Image:
    """Smooth colour structure plus noise, so crops, blur and hue all change pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([128 + 100 * np.sin(x / (9 + 3 * c) + y / (13 + 2 * c) + c + seed) for c in range(3)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 14, base.shape), 0, 255).astype(np.uint8))


RECORD = {"raw_caption": ["A dog on the grass"], "short_captions": [["A brown dog sits outside"]],
          "long_captions": [["The dog is brown", "A red ball lies near it", "Trees stand behind (far away)",
                             "It is 3 pm", "Grass covers the field"]]}
COSMOS = multicrop_views(COSMOSConfig(local_size=32, local_crops=4), 64, 16) | {
    "texts": TextView("textcrop", 2, 6, 5)}
SLIP = {"image": ImageView(64, (0.5, 1.0), interpolation="bilinear"),
        "ssl": ImageView(48, (0.08, 1.0), augment=SIMCLR, n=2, interpolation="bilinear"), "text": TextView("raw")}
CLIP = {"image": ImageView(64, (0.9, 1.0)), "text": TextView("random")}


@pytest.mark.parametrize("views", [COSMOS, SLIP, CLIP], ids=["cosmos", "slip", "clip"])
@pytest.mark.parametrize("augment", ["workers", "device"])
def test_exact_ops_build_the_pil_paths_tensors_bit_for_bit(views, augment, tokenizer):
    pil = ViewBuilder(views, tokenizer, augment, ops="pil")
    exact = ViewBuilder(views, tokenizer, augment, ops="exact")
    for seed in range(12):
        sample = {"image": photo(seed), "captions": RECORD}
        a, b = pil(sample, seed), exact(sample, seed)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (seed, key)


def test_hue_tables_equal_pillow_on_every_colour():
    every = Image.frombytes("RGB", (4096, 4096), np.arange(1 << 24, dtype=np.uint32).view(np.uint8)
                            .reshape(-1, 4)[:, :3].tobytes())
    for factor in (-0.5, -0.1, -0.0371, 0.0, 0.002, 0.0999, 0.5):
        assert np.array_equal(np.asarray(F.adjust_hue(every, factor)), np.asarray(fast_ops.hue(every, factor))), \
            factor


def test_fast_resize_differs_from_pillow_only_in_rare_values():
    """torch's uint8 antialiased resize against Pillow's on the same boxes, both filters, both crop sizes; measured
    on 512 x 384 photos (benchmarks/README.md): 98.2% equal, 0.25% by more than 1 grey level, at most 6."""
    diffs = []
    for seed in range(20):
        image = photo(seed, (256, 192))
        src = fast_ops.Source(image)
        for size, scale, mode in ((96, (0.4, 1.0), "bicubic"), (40, (0.05, 0.4), "bicubic"),
                                  (96, (0.4, 1.0), "bilinear")):
            interp = T.InterpolationMode(mode)
            torch.manual_seed(seed)
            a = T.RandomResizedCrop(size, scale=scale, interpolation=interp)(image)
            torch.manual_seed(seed)
            b = fast_ops.ResizedCrop(size, scale=scale, interpolation=interp, tensor=True)(src)
            diffs.append(np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).ravel())
    d = np.concatenate(diffs)
    assert (d == 0).mean() > 0.95 and (d > 1).mean() < 0.01 and d.max() <= 12


def test_fast_ops_differ_from_pil_only_through_the_resize(tokenizer):
    pil, fast = ViewBuilder(COSMOS, tokenizer, ops="pil"), ViewBuilder(COSMOS, tokenizer, ops="fast")
    for seed in range(6):
        sample = {"image": photo(seed), "captions": RECORD}
        a, b = pil(sample, seed), fast(sample, seed)
        assert torch.equal(a["texts"], b["texts"])
        for key in ("global1", "global2", "local"):
            d = (a[key].int() - b[key].int()).abs().float()
            assert d.mean() < 1.0, (seed, key)  # the same boxes, flips and colour draws: different draws give ~30


TEXTS = ["A dog. A cat", "Mr. Smith went home. He slept", "The end.", "Two dogs (brown). A ball", "3. 4. 5",
         "Café au lait. Tea", "Fish &amp; chips. Salt", "Fish &amp. Chips", "a. b. c. d", ". Leading", "Trailing. ",
         "Don't. It's fine", "UPPER case. lower CASE", "   spaced   out.   text  ", "", "a" * 300,
         ". ".join(f"sentence number {i} is rather long" for i in range(20)), "x\x07y. z", "tab\there. new\nline"]


def test_sentence_tokenizer_gives_the_tokenizers_ids(tokenizer):
    fast = SentenceTokenizer(tokenizer)
    assert fast.enabled
    assert torch.equal(fast(TEXTS), tokenizer(TEXTS))
    rng = random.Random(0)
    alphabet = "abcdefghij KLMNO 0123456789 .,;:!?'\"()-&éü"
    sentences = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))).strip() for _ in range(300)]
    texts = [". ".join(rng.sample(sentences, rng.randint(1, 5))) for _ in range(400)]
    assert torch.equal(fast(texts), tokenizer(texts))
    assert torch.equal(fast(texts), tokenizer(texts))  # from the cache


def test_sentence_tokenizer_passes_other_tokenizers_through():
    canon = open_clip.tokenizer.SimpleTokenizer(clean="canonicalize")
    fast = SentenceTokenizer(canon)
    assert not fast.enabled and torch.equal(fast(TEXTS[:5]), canon(TEXTS[:5]))


def test_device_draws_consume_the_rng_as_the_worker_transforms_do():
    """The device placement's parameter rows come from the calls the worker path's transforms make, in their
    order: torch's RNG is in the same state after one crop's draws, whichever ops fired."""
    image = photo(0, (40, 30))
    for augment in (COSMOS["global1"].augment, COSMOS["global2"].augment, COSMOS["local"].augment, SIMCLR,
                    dataclasses.replace(SIMCLR, jitter=(0.4, 0.0, 0.4, 0.0))):
        photometric = T.Compose(image_pipeline(ImageView(24, augment=augment)).transforms[2:])  # after crop, flip
        for seed in range(60):
            torch.manual_seed(seed)
            row = D.draw(augment)[0]
            after = torch.get_rng_state()
            torch.manual_seed(seed)
            photometric(image)
            assert torch.equal(after, torch.get_rng_state()), (augment, seed)
            assert row.shape == (D.N_PARAMS,)


def test_device_placement_gives_the_worker_batch_for_every_view_ops(tokenizer):
    views = {k: v for k, v in COSMOS.items() if isinstance(v, ImageView)}
    for ops in ("exact", "fast"):
        workers = ViewBuilder(views, tokenizer, ops=ops)
        device = ViewBuilder(views, tokenizer, augment="device", ops=ops)
        for seed in range(4):
            sample = {"image": photo(seed), "captions": RECORD}
            a = D.to_device(workers(sample, seed), torch.device("cpu"))
            b = D.to_device(device(sample, seed), torch.device("cpu"))
            assert all(torch.equal(a[k], b[k]) for k in views), (ops, seed)


def test_view_ops_key_choices_and_fingerprint():
    with pytest.raises(ConfigError, match="pil, exact, fast"):
        C.resolve({"method": "clip", "data.view_ops": "simd"})
    with pytest.raises(ValueError, match="pil, exact, fast"):
        ViewBuilder(CLIP, None, ops="simd")
    base = fingerprint(C.resolve({"method": "cosmos"}))
    assert fingerprint(C.resolve({"method": "cosmos", "data.view_ops": "exact"})) == base  # the same tensors
    assert fingerprint(C.resolve({"method": "cosmos", "data.view_ops": "fast"})) != base
    assert fingerprint(C.resolve({"method": "cosmos", "data.augment": "device", "data.view_ops": "exact"})) == base


def _as_tensor(img: Image.Image) -> torch.Tensor:
    return F.pil_to_tensor(img)[None].float()


def test_pillow_colour_arithmetic_in_torch_equals_pillow():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))
    x = _as_tensor(img)
    assert torch.equal(P.grayscale(x), _as_tensor(F.rgb_to_grayscale(img, 3)))
    assert torch.equal(P.solarize(x), _as_tensor(F.solarize(img, 128)))
    for f in (0.0, 0.6, 0.97, 1.0, 1.234, 1.4, 2.5):
        ft = torch.tensor(f).view(1, 1, 1, 1)
        assert torch.equal(P.brightness(x, ft), _as_tensor(F.adjust_brightness(img, f))), f
        assert torch.equal(P.contrast(x, ft), _as_tensor(F.adjust_contrast(img, f))), f
        assert torch.equal(P.saturation(x, ft), _as_tensor(F.adjust_saturation(img, f))), f


def test_pillow_hue_in_torch_equals_pillow_on_every_colour():
    every = np.arange(1 << 24, dtype=np.uint32).view(np.uint8).reshape(4096, 4096, 4)[..., :3]
    img = Image.fromarray(np.ascontiguousarray(every))
    ft = torch.tensor(0.0999).view(1, 1, 1, 1)  # float32, as the drawn factors
    assert torch.equal(P.hue(_as_tensor(img), ft), _as_tensor(F.adjust_hue(img, float(ft))))
    some = Image.fromarray(np.ascontiguousarray(every[::7, ::5]))
    for f in (-0.5, -0.1, -0.0371, 0.0, 0.002, 0.5):
        ft = torch.tensor(f).view(1, 1, 1, 1)
        assert torch.equal(P.hue(_as_tensor(some), ft), _as_tensor(F.adjust_hue(some, float(ft)))), f


def test_pillow_gaussian_blur_in_torch_equals_pillow():
    """Pillow's extended box blur (3 passes each way, its fixed-point weights) for sigmas across DINO's range and
    beyond, crops of several sigmas in one batch, and a crop smaller than the box."""
    rng = np.random.default_rng(1)
    imgs = [Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)) for _ in range(4)]
    sigmas = torch.tensor([0.025, 0.1, 0.37, 0.9, 1.3, 2.0, 3.3, 7.5, 20.0])
    for img in imgs:
        x = _as_tensor(img).expand(len(sigmas), -1, -1, -1)
        out = P.gaussian_blur(x, sigmas)
        for i, s in enumerate(sigmas.tolist()):
            assert torch.equal(out[i:i + 1], _as_tensor(img.filter(ImageFilter.GaussianBlur(s)))), s


def _encoded(img: Image.Image, fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_jpeg_draft_decodes_large_jpegs_at_a_reduced_size_only():
    from methods.data.stream import ShardStream, decode_sample

    img = photo(0, (1024, 768))
    jpg, png = _encoded(img, "JPEG"), _encoded(img, "PNG")
    assert decode_sample({"jpg": jpg, "txt": b"a"})["image"].size == (1024, 768)  # off: decoded whole
    assert decode_sample({"jpg": jpg, "txt": b"a"}, draft_side=448)["image"].size == (1024, 768)  # 768 < 2 x 448
    assert decode_sample({"jpg": jpg, "txt": b"a"}, draft_side=384)["image"].size == (512, 384)
    assert decode_sample({"jpg": jpg, "txt": b"a"}, draft_side=192)["image"].size == (256, 192)
    assert decode_sample({"png": png, "txt": b"a"}, draft_side=192)["image"].size == (1024, 768)  # JPEG only
    stream = ShardStream(["x.tar"], COSMOS, None, 4, jpeg_draft=True)
    assert stream.draft_side == 2 * 64  # twice the largest training crop
    assert ShardStream(["x.tar"], COSMOS, None, 4).draft_side == 0
    assert fingerprint(C.resolve({"method": "cosmos", "data.jpeg_draft": "true"})) != \
        fingerprint(C.resolve({"method": "cosmos"}))
