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


def official_mode_pool(record: dict, mode: str) -> list[str]:
    """The official sample_dict's captions_list per caption mode, written out from its code (FLAIR fields)."""
    short = record["shortIB_captions"] + record["shortSV_captions"] + record["shortLLA_captions"]
    long = record["longIB_captions"] + record["longSV_captions"] + record["longLLA_captions"]
    return {"raw": record["raw_caption"], "random": record["raw_caption"] + short + long,
            "short": record["raw_caption"] + short, "long": long}[mode]


def _period(text: str) -> str:
    """The suite's one deviation from the official caption strings: a caption without final punctuation gets a
    period (every caption is a sentence list joined by methods.data.text.join_sentences)."""
    return text if text.endswith((".", "!", "?")) else text + "."


@pytest.mark.parametrize("mode", ["random", "short", "long"])
def test_caption_modes_draw_the_official_k_whole_captions(mode):
    """Table 17's caption-mode rows: all 8 texts in one draw from the mode's pool, as the official sample_dict."""
    record, view = normalise_record(FLAIR), TextView(mode, 2, 6, local="caption")
    for seed in range(500):
        assert build_texts(record, view, random.Random(seed)) == [_period(t) for t in reference_sample_from_list(
            official_mode_pool(FLAIR, mode), 8, random.Random(seed))]


def test_the_raw_caption_mode_is_one_text_the_alt_text_and_text_crops_are_not_a_caption_mode():
    texts = build_texts(normalise_record(FLAIR), TextView("raw", 1, 0), random.Random(0))
    assert texts == [_period(FLAIR["raw_caption"][0])] == ["A photo of a dog on grass."]
    with pytest.raises(ValueError, match="local text view 'caption' draws whole captions"):
        TextView("textcrop", 2, 6, local="caption")


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
    assert batches[0][0]["texts"].shape == (2, 8, 16) and sum(meta.skipped for _, meta in batches) == 1


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
        method = build_method(name, cfg.method_config, cfg.encoder).double()
        for enc in (method.encoders, method.teacher_encoders()):
            assert enc.pos_interp == "dino"
            pe = enc.model.visual.positional_embedding
            assert torch.equal(enc.positional_embedding(2, 2), dino_interpolation(pe, 2, 2))
        size = C.resolve(tiny_overrides(name, **{f"{name}.pos_interp": "size"}))
        other = build_method(name, size.method_config, cfg.encoder).double()
        other.load_state_dict(method.state_dict())
        pe = other.encoders.model.visual.positional_embedding
        assert not torch.allclose(other.encoders.positional_embedding(2, 2), dino_interpolation(pe, 2, 2))


def test_sclip_name_files_ship_and_are_the_segmentation_default(tmp_path):
    from methods.evals.segsets import BENCHMARKS, SCLIP_NAMES, class_lines

    for name, bench in BENCHMARKS.items():
        lines = class_lines(bench)
        assert len(lines) == len(bench.classes), name
        assert lines == [ln.strip() for ln in (SCLIP_NAMES / bench.names_file).read_text().splitlines() if ln.strip()]
    voc21 = BENCHMARKS["voc21"]
    assert class_lines(voc21)[0].startswith("sky, wall, tree") and class_lines(voc21)[1] == "aeroplane"
    assert class_lines(voc21, names="dataset")[:2] == ["background", "aeroplane"]
    (tmp_path / "cls_voc21.txt").write_text("\n".join(f"c{i}" for i in range(21)))
    assert class_lines(voc21, str(tmp_path))[0] == "c0" and class_lines(BENCHMARKS["voc20"], str(tmp_path))[0] != "c0"


def _cv2_linear(img, out_h: int, out_w: int):
    """cv2.INTER_LINEAR written out: source coordinate (d + 0.5) * in / out - 0.5, clamped to the image."""
    import numpy as np

    h, w = img.shape[:2]
    out = np.zeros((out_h, out_w, img.shape[2]))
    for y in range(out_h):
        sy = min(max((y + 0.5) * h / out_h - 0.5, 0), h - 1)
        y0, fy = int(sy), sy - int(sy)
        y1 = min(y0 + 1, h - 1)
        for x in range(out_w):
            sx = min(max((x + 0.5) * w / out_w - 0.5, 0), w - 1)
            x0, fx = int(sx), sx - int(sx)
            x1 = min(x0 + 1, w - 1)
            out[y, x] = ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x1])
                         + fy * ((1 - fx) * img[y1, x0] + fx * img[y1, x1]))
    return out


@pytest.mark.parametrize("size, short, expected", [((5, 3), 4, (7, 4)), ((9, 6), 4, (6, 4)), ((7, 7), 7, (7, 7))])
def test_segmentation_resizes_as_mmseg(size, short, expected):
    import numpy as np

    from methods.evals.sclip import mmseg_resize

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = mmseg_resize(Image.fromarray(arr), short)
    assert out.size == expected  # int(x * factor + 0.5), factor = short / short edge
    ref = np.clip(np.round(_cv2_linear(arr.astype(float), expected[1], expected[0])), 0, 255)
    assert np.abs(np.asarray(out).astype(float) - ref).max() <= 1


def test_flickr30k_reads_the_karpathy_split_or_cosmos_val_file(tmp_path):
    from methods.evals.datasets import flickr30k

    (tmp_path / "imgs").mkdir()
    blip = [{"image": "flickr30k-images/1.jpg", "caption": ["a dog", "a brown dog"]},
            {"image": "flickr30k-images/2.jpg", "caption": ["a cat"]}]
    (tmp_path / "flickr30k_val.json").write_text(json.dumps(blip))
    data = flickr30k(tmp_path / "imgs", tmp_path / "flickr30k_val.json")
    assert data.images == [str(tmp_path / "imgs" / "1.jpg"), str(tmp_path / "imgs" / "2.jpg")]
    assert data.captions == ["a dog", "a brown dog", "a cat"] and data.caption_image == [0, 0, 1]
    karpathy = {"images": [{"filename": "3.jpg", "split": "test", "sentences": [{"raw": "a bird"}]},
                           {"filename": "4.jpg", "split": "train", "sentences": [{"raw": "a fish"}]}]}
    (tmp_path / "dataset_flickr30k.json").write_text(json.dumps(karpathy))
    assert flickr30k(tmp_path / "imgs", tmp_path / "dataset_flickr30k.json").captions == ["a bird"]
    (tmp_path / "bad.json").write_text(json.dumps([{"file": "x"}]))
    with pytest.raises(ValueError, match="not a Flickr30k annotation file"):
        flickr30k(tmp_path / "imgs", tmp_path / "bad.json")
