"""The official COSMOS data rules: text crops (sample_dict + random_sample_from_list), the shard caption layouts
(DreamLIP/FLAIR, PixelProse), and DINO's positional-embedding interpolation for local crops."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch
import webdataset as wds
from PIL import Image

from methods.data.stream import decode_sample
from methods.data.text import normalise_record
from methods.data.views import TextView, build_texts, sentence_pool


def reference_sample_from_list(pool: list[str], num: int, rng: random.Random) -> list[str]:
    """The official random_sample_from_list, written out from its rule: a pool of at least num items gives
    random.sample(pool, num); a smaller one gives (num // n) copies of the whole pool + random.sample(pool, num % n)."""
    n = len(pool)
    if n >= num:
        return rng.sample(pool, num)
    return (num // n) * pool + rng.sample(pool, num % n)


def reference_textcrop(pool: list[str], k: int, rng: random.Random) -> list[str]:
    """The official sample_dict(mode='textcrop', k): two ks ~ randint(1, 5) drawn first, then the two global crops
    joined by '. ', then k - 2 local sentences by the same rule."""
    nums = [rng.randint(1, 5) for _ in range(2)]
    globals_ = [". ".join(reference_sample_from_list(pool, num, rng)) for num in nums]
    return globals_ + reference_sample_from_list(pool, k - 2, rng)


def _record(n: int) -> dict:
    return {"raw_caption": [f"sentence {i}" for i in range(n)], "short_captions": [], "long_captions": []}


@pytest.mark.parametrize("n", [1, 3, 13])
def test_text_crops_equal_the_official_rule_draw_for_draw(n):
    """20,000 draws per pool size, same seeds: the suite's crops are the official ones, string for string."""
    record = _record(n)
    pool = sentence_pool(record)
    view = TextView("textcrop", 2, 6, max_sentences=5)
    lengths, repeats = Counter(), 0
    for seed in range(20_000):
        ours = build_texts(record, view, random.Random(seed))
        assert ours == reference_textcrop(pool, 8, random.Random(seed))
        for crop in ours[:2]:
            parts = crop.split(". ")
            lengths[len(parts)] += 1
            repeats += len(parts) - len(set(parts))
    assert set(lengths) == {1, 2, 3, 4, 5}  # k ~ U{1..5} whatever the pool size
    assert all(abs(c / 40_000 - 0.2) < 0.01 for c in lengths.values())
    assert (repeats > 0) == (n < 5)  # small pools repeat sentences inside a crop, as the official code does
    assert not any(t.endswith(".") for t in ours)  # the official join leaves no final period


def test_the_capped_rule_stays_available_by_name():
    texts = build_texts(_record(1), TextView("textcrop", 2, 6, crops="capped"), random.Random(0))
    assert texts[:2] == ["sentence 0.", "sentence 0."] and texts[2:] == ["sentence 0."] * 6
    with pytest.raises(ValueError, match="unknown text_crops 'nope'; valid choices: official, capped"):
        TextView("textcrop", crops="nope")


FLAIR = {"raw_caption": ["A photo of a dog on grass"], "shortIB_captions": ["A brown dog."],
         "shortSV_captions": ["A dog standing outside."], "shortLLA_captions": ["Dog on a lawn."],
         "longIB_captions": ["The dog is brown.", "It stands on grass.", "The sky is blue."],
         "longSV_captions": ["A dog is outside.", "Trees are behind it.", "It is sunny."],
         "longLLA_captions": ["A lawn.", "A brown dog.", "Daylight."]}


def test_the_flair_layout_gives_the_official_sentence_pool_in_its_order():
    pool = sentence_pool(normalise_record(FLAIR))
    official = [s for f in ("raw_caption", "shortIB_captions", "shortSV_captions", "shortLLA_captions",
                            "longIB_captions", "longSV_captions", "longLLA_captions") for s in FLAIR[f]]
    assert pool == official and len(pool) == 13


def test_pixelprose_records_give_the_alt_text_then_the_sentences_of_the_caption():
    rec = normalise_record({"original_caption": "a dog. on grass", "caption": "The dog is brown.\nIt runs</s> Fast."})
    assert sentence_pool(rec) == ["a dog. on grass", "The dog is brown", "It runs", "Fast"]


def test_unknown_or_malformed_caption_records_are_refused():
    with pytest.raises(ValueError, match="no known caption field"):
        normalise_record({"alt": "a dog"})
    with pytest.raises(ValueError, match="'shortIB_captions' is neither a string nor a list of strings"):
        normalise_record({"raw_caption": ["x"], "shortIB_captions": [3]})
    assert normalise_record({"raw_caption": "x", "longSV_captions": "A b. C d"})["long_captions"] == [["A b"], ["C d"]]


def _jpg() -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 90, 200)).save(buf, format="JPEG")
    return buf.getvalue()


def test_official_shards_are_read_whole_and_unknown_records_are_counted_skips(tmp_path):
    import itertools

    from methods.data.stream import ShardStream
    from methods.data.views import ImageView
    from methods.encoders import build_encoders

    path = tmp_path / "flair-000000.tar"
    with wds.TarWriter(str(path)) as w:
        w.write({"__key__": "unknown", "jpg": _jpg(), "json": json.dumps({"alt": "a dog"}).encode()})
        for i in range(4):
            w.write({"__key__": f"s{i}", "jpg": _jpg(), "json": json.dumps(FLAIR).encode()})
    raw = list(wds.DataPipeline(wds.SimpleShardList([str(path)]), wds.tarfile_to_samples()))[1]
    assert len(sentence_pool(decode_sample(raw)["captions"])) == 13
    views = {"image": ImageView(32, (0.9, 1.0)), "texts": TextView("textcrop", 2, 6)}
    stream = ShardStream([str(path)], views, build_encoders("ViT-Micro-8-32").tokenizer(), 2, shuffle_buffer=0)
    batches = list(itertools.islice(iter(stream), 2))
    assert batches[0]["texts"].shape == (2, 8, 16) and sum(int(b["_skipped"]) for b in batches) == 1


def test_text_crops_on_alt_text_only_shards_are_refused_before_training(tmp_path, capsys, monkeypatch):
    from experiments.run import main

    monkeypatch.setenv("SUITE_DATA", str(tmp_path / "data"))
    with wds.TarWriter(str(tmp_path / "raw-000000.tar")) as w:
        for i in range(3):
            w.write({"__key__": f"r{i}", "jpg": _jpg(), "txt": b"a dog on grass"})
    args = ["train", "method=cosmos", "encoder=ViT-Micro-8-32", "data.dataset=shards",
            f"data.shards={tmp_path}", "eval.sets=", "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cosmos.caption=textcrop needs synthetic captions, but none of the first 3 records" in err
    assert err.count("\n") == 1 and not (tmp_path / "data").exists()


def dino_interpolation(pe: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
    """DINO's interpolate_pos_encoding (copied by the official COSMOS code), written out from its formula: the
    (g x g) patch grid resized bicubically by scale factors ((gh + 0.1) / g, (gw + 0.1) / g)."""
    g = int((pe.shape[0] - 1) ** 0.5)
    grid = pe[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(grid, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g), mode="bicubic")
    assert out.shape[-2:] == (gh, gw)
    return torch.cat([pe[:1], out.permute(0, 2, 3, 1).reshape(gh * gw, -1)])


def test_multi_crop_methods_interpolate_local_positions_the_dino_way():
    from experiments import config as C
    from methods import build_method

    from .conftest import tiny_overrides

    for name in ("silc", "cosmos"):
        cfg = C.resolve(tiny_overrides(name))
        method = build_method(name, C.method_config(cfg), cfg["encoder"]).double()
        for enc in (method.encoders, method.teacher_encoders()):
            assert enc.pos_interp == "dino"
            pe = enc.model.visual.positional_embedding
            assert torch.equal(enc.positional_embedding(2, 2), dino_interpolation(pe, 2, 2))
        size = C.resolve(tiny_overrides(name, **{f"{name}.pos_interp": "size"}))
        other = build_method(name, C.method_config(size), cfg["encoder"]).double()
        other.load_state_dict(method.state_dict())
        pe = other.encoders.model.visual.positional_embedding
        assert not torch.allclose(other.encoders.positional_embedding(2, 2), dino_interpolation(pe, 2, 2))
