"""The training stream: corrupt samples are skipped and counted; positions make resume exact."""

from __future__ import annotations

import io
import itertools
import json

import pytest
import torch
import webdataset as wds
from PIL import Image

from methods.data.stream import ShardStream, make_loader
from methods.data.views import ImageView, TextView
from methods.encoders import build_encoders

VIEWS = {"image": ImageView(32), "text": TextView("random")}


@pytest.fixture(scope="module")
def tokenizer():
    return build_encoders("ViT-Micro-8-32").tokenizer()


def _jpg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def _bad_then_good(tmp_path, bad: list[dict], good: dict):
    """A shard of the `bad` samples followed by 6 copies of `good` (one pass = 3 batches of 2 good samples)."""
    path = tmp_path / "shard-000000.tar"
    with wds.TarWriter(str(path)) as w:
        for s in bad:
            w.write(s)
        for i in range(6):
            w.write({"__key__": f"good{i}", **good})
    return path


def test_corrupt_samples_are_skipped_and_counted(tmp_path, tokenizer):
    good = {"jpg": _jpg(), "json": json.dumps({"raw_caption": ["a green square"]}).encode()}
    bad = [
        {"__key__": "bad_image", "jpg": b"\xff\xd8 definitely not a jpeg", "json": good["json"]},
        {"__key__": "empty_caption", "jpg": good["jpg"], "json": json.dumps({"raw_caption": []}).encode()},
        {"__key__": "not_utf8", "jpg": good["jpg"], "txt": b"caf\xe9 \xff"},
        {"__key__": "no_caption", "jpg": good["jpg"]},
        {"__key__": "bad_json", "jpg": good["jpg"], "json": b"{not json"},
    ]
    path = _bad_then_good(tmp_path, bad, good)
    stream = ShardStream([str(path)], VIEWS, tokenizer, batch_size=2, shuffle_buffer=0)
    batches = list(itertools.islice(iter(stream), 3))  # one pass over the shard = 3 batches of good samples
    assert sum(meta.skipped for _, meta in batches) == len(bad)
    assert batches[0][0]["image"].shape == (2, 3, 32, 32) and batches[0][0]["text"].shape == (2, 16)


def _take(loader, n):
    return list(itertools.islice(iter(loader), n))


@pytest.mark.parametrize("workers", [0, 2])
def test_resuming_from_recorded_positions_continues_with_identical_batches(scenes, tokenizer, workers):
    urls = sorted(str(p) for p in (scenes / "train").glob("*.tar"))
    kw = dict(views=VIEWS, tokenizer=tokenizer, batch_size=8, seed=3, shuffle_buffer=16)
    full = _take(make_loader(ShardStream(urls, **kw), workers), 5)
    k = 3
    positions = {}
    for _, meta in full[:k]:
        positions[meta.slot] = meta.pos
    resumed = _take(make_loader(ShardStream(urls, **kw, start=positions, rotation=k % max(workers, 1)), workers), 2)
    for (a, meta_a), (b, meta_b) in zip(full[k:], resumed):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["text"], b["text"])
        assert meta_a.slot == meta_b.slot and meta_a.pos == meta_b.pos


def test_different_seeds_give_different_augmentations(scenes, tokenizer):
    urls = sorted(str(p) for p in (scenes / "train").glob("*.tar"))
    a, _ = next(iter(ShardStream(urls, VIEWS, tokenizer, 4, seed=0, shuffle_buffer=0)))
    b, _ = next(iter(ShardStream(urls, VIEWS, tokenizer, 4, seed=1, shuffle_buffer=0)))
    assert not torch.equal(a["image"], b["image"])


def test_too_few_shards_for_the_readers_is_a_clear_error(scenes, tokenizer):
    url = sorted(str(p) for p in (scenes / "train").glob("*.tar"))[0]
    with pytest.raises(ValueError, match="cannot feed 2 readers"):
        next(iter(ShardStream([url], VIEWS, tokenizer, 4, world_size=2)))


def test_a_pipeline_where_every_sample_fails_stops_with_the_cause(tmp_path, tokenizer, monkeypatch):
    from methods.data import stream as stream_mod

    monkeypatch.setattr(stream_mod, "MAX_CONSECUTIVE_FAILURES", 5)
    path = tmp_path / "shard-000000.tar"
    with wds.TarWriter(str(path)) as w:
        for i in range(8):
            w.write({"__key__": f"k{i}", "jpg": b"garbage", "txt": b"a caption"})
    with pytest.raises(RuntimeError, match="5 consecutive samples or shards of 1 shard"):
        next(iter(ShardStream([str(path)], VIEWS, tokenizer, batch_size=2, shuffle_buffer=0)))


def test_an_unknown_view_spec_fails_at_construction(tokenizer):
    from methods.data.views import ViewBuilder

    with pytest.raises(TypeError, match="view 'depth': unknown spec type dict"):
        ViewBuilder({"depth": {"size": 3}}, tokenizer)


def _png(img) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_poisoned_samples_are_counted_skips_and_never_decoded(tmp_path, tokenizer, monkeypatch):
    """JSON nested past the recursion limit, a decompression bomb and an image over data.max_pixels (read from
    its header: no full decode) are skips like any corrupt sample; the captions preflight survives them too."""
    from PIL import Image

    from methods.data import stream as stream_mod
    from methods.data.stream import recaption_share

    good = {"jpg": _jpg(), "json": json.dumps({"raw_caption": ["a green square"]}).encode()}
    bomb = _png(Image.new("L", (14_000, 14_000)))  # ~40 KB of PNG, 196 megapixels
    big = _png(Image.new("L", (3_000, 2_000)))
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    bad = [{"__key__": "deep_json", "jpg": good["jpg"], "json": deep},
           {"__key__": "bomb", "png": bomb, "json": good["json"]},
           {"__key__": "big", "png": big, "json": good["json"]}]
    path = _bad_then_good(tmp_path, bad, good)
    stream = ShardStream([str(path)], VIEWS, tokenizer, batch_size=2, shuffle_buffer=0, max_pixels=5_000_000)
    batches = list(itertools.islice(iter(stream), 3))
    assert sum(meta.skipped for _, meta in batches) == len(bad)
    assert (14_000, 14_000) not in decoded and (3_000, 2_000) not in decoded, "refused from the header"
    assert recaption_share([str(path)]) == (8, 0)  # the deep JSON is left out, nothing raised
    assert stream_mod.MAX_PIXELS >= 25_000_000  # the default admits any web-scale training image


def test_sixteen_bit_images_keep_their_range():
    import numpy as np
    from PIL import Image

    from methods.data.stream import to_rgb

    import io

    arr = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    png = Image.open(io.BytesIO(_png(Image.fromarray(arr))))  # a 16-bit grayscale PNG, as a shard holds it
    assert png.mode.startswith("I")
    rgb = np.asarray(to_rgb(png))
    assert rgb.shape == (1, 4, 3) and list(rgb[0, :, 0]) == [0, 4, 128, 255]  # 1000 -> 4, not clipped to 255


@pytest.mark.parametrize("resampled", [False, True])
def test_empty_shards_stop_with_one_line_instead_of_waiting_forever(tmp_path, tokenizer, resampled):
    from methods.errors import DataError

    urls = []
    for i in range(2):
        path = tmp_path / f"shard-{i:06d}.tar"
        with wds.TarWriter(str(path)):
            pass  # what `prepare` used to leave when no row had a caption
        urls.append(str(path))
    with pytest.raises(DataError, match="held no samples") as err:
        next(iter(ShardStream(urls, VIEWS, tokenizer, batch_size=2, resampled=resampled)))
    assert "\n" not in str(err.value)


def test_one_empty_shard_among_good_ones_is_read_past(scenes, tmp_path, tokenizer):
    empty = tmp_path / "empty.tar"
    with wds.TarWriter(str(empty)):
        pass
    urls = [str(empty)] + sorted(str(p) for p in (scenes / "train").glob("*.tar"))
    batches = list(itertools.islice(iter(ShardStream(urls, VIEWS, tokenizer, batch_size=4)), 3))
    assert len(batches) == 3


def test_brace_patterns_are_counted_before_they_are_expanded(monkeypatch):
    """A pattern of 1e8 shards is refused without expanding it (the expansion is never called); the counts match
    braceexpand's."""
    import braceexpand

    from methods.data.stream import brace_count, expand_shards

    for p in ("/d/{000000..000331}.tar", "/d/{a,b,c}/{0..9}.tar", "x{1..10..2}y", "{a..e}", "{a,{b,c}}{1..3}",
              "plain.tar", "{x}"):
        assert brace_count(p) == sum(1 for _ in braceexpand.braceexpand(p)), p

    def never(*_):
        raise AssertionError("expanded")

    monkeypatch.setattr(braceexpand, "braceexpand", never)
    with pytest.raises(ValueError, match="lists more than 1,000,000 shards"):
        expand_shards("/d/{000000000..100000000}.tar")
