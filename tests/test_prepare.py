"""The prepare command: local image-text data in three layouts -> shards the training stream reads."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
import webdataset as wds
from PIL import Image

from methods.data.prepare import dreamlip_record, prepare
from methods.data.stream import decode_sample, read_all
from methods.data.text import split_sentences


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.new("RGB", (24, 24), (120, 30, 30)).save(folder / n)


def _read(out):
    return [decode_sample(s) for s in read_all(sorted(str(p) for p in out.glob("*.tar")))]


def test_split_sentences_on_period_newline_and_eos():
    assert split_sentences("A cat. Two dogs\nA bird</s> x.  ") == ["A cat", "Two dogs", "A bird", "x"]


def test_folder_with_csv_and_jsonl(tmp_path):
    _images(tmp_path / "img", ["a.jpg", "b.png"])
    with open(tmp_path / "caps.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["image", "caption"], ["a.jpg", "a red square. on grass"], ["b.png", "b"],
                     ["missing.jpg", "gone"], ["a.jpg", ""]])
    stats = prepare("folder", tmp_path / "img", tmp_path / "out", tmp_path / "caps.csv", shard_size=1)
    assert stats == {"written": 2, "skipped": 2, "shards": 2}
    samples = _read(tmp_path / "out")
    assert samples[0]["captions"]["raw_caption"] == ["a red square. on grass"]  # the alt-text as written
    assert samples[0]["captions"]["verbatim"] is True
    (tmp_path / "caps.jsonl").write_text('{"image": "b.png", "caption": "only b"}\n')
    assert prepare("folder", tmp_path / "img", tmp_path / "out2", tmp_path / "caps.jsonl")["written"] == 1


def test_img2dataset_files_and_tars(tmp_path):
    _images(tmp_path / "files" / "00000", ["000000001.jpg", "000000002.jpg"])
    (tmp_path / "files" / "00000" / "000000001.txt").write_text("a photo")
    stats = prepare("img2dataset", tmp_path / "files", tmp_path / "out")
    assert stats["written"] == 1 and stats["skipped"] == 1  # the second image has no caption
    tar_dir = tmp_path / "tars"
    tar_dir.mkdir()
    with wds.TarWriter(str(tar_dir / "00000.tar")) as w:
        jpg = (tmp_path / "files" / "00000" / "000000001.jpg").read_bytes()
        w.write({"__key__": "k1", "jpg": jpg, "txt": b"one caption"})
        w.write({"__key__": "k2", "jpg": jpg, "txt": b"\xff\xfe bad"})
    stats = prepare("img2dataset", tar_dir, tmp_path / "out2")
    assert stats["written"] == 1 and stats["skipped"] == 1
    assert _read(tmp_path / "out2")[0]["captions"]["raw_caption"] == ["one caption"]


def test_dreamlip_records(tmp_path):
    row = {"image": "a.jpg", "raw_caption": "cheap shoes", "shortIB_captions": "A shoe.",
           "longSV_captions": "A red shoe. It lies on a table.\nLight is soft</s>", "longLLA_captions": ["x. y"]}
    rec = dreamlip_record(row)
    assert rec["raw_caption"] == ["cheap shoes"] and rec["short_captions"] == [["A shoe"]]
    assert rec["long_captions"] == [["x", "y"], ["A red shoe", "It lies on a table", "Light is soft"]]
    _images(tmp_path / "img", ["a.jpg"])
    (tmp_path / "recs.json").write_text(json.dumps([row]))
    assert prepare("dreamlip", tmp_path / "img", tmp_path / "out", tmp_path / "recs.json")["written"] == 1
    assert _read(tmp_path / "out")[0]["captions"] == rec


def _img2dataset_shard(path, formats=("jpg", "webp", "png")):
    """A shard as img2dataset's webdataset output writes it: image (its --encode_format), .txt alt-text and a
    .json with the download's metadata, the alt-text under `caption`."""
    import io

    with wds.TarWriter(str(path)) as w:
        for i, fmt in enumerate(formats):
            buf = io.BytesIO()
            Image.new("RGB", (24, 24), (30, 120, 30)).save(buf, format={"jpg": "JPEG"}.get(fmt, fmt.upper()))
            caption = f"cheap {fmt} shoes on sale"
            meta = {"url": f"http://x/{i}.{fmt}", "caption": caption, "key": f"{i:09d}", "status": "success",
                    "error_message": None, "width": 24, "height": 24, "original_width": 48, "original_height": 48,
                    "exif": "{}", "sha256": "0" * 64}
            w.write({"__key__": f"{i:09d}", fmt: buf.getvalue(), "txt": caption.encode(),
                     "json": json.dumps(meta).encode()})


def test_img2dataset_shards_with_json_read_as_alt_text_and_refuse_text_crops(tmp_path):
    from experiments import config as C
    from methods.data.stream import recaption_share

    from .conftest import tiny_overrides

    shard = tmp_path / "shards" / "00000.tar"
    shard.parent.mkdir()
    _img2dataset_shard(shard, formats=("jpg", "jpg"))
    samples = _read(shard.parent)
    assert [s["captions"]["raw_caption"] for s in samples] == [["cheap jpg shoes on sale"]] * 2
    assert all(not s["captions"]["long_captions"] and not s["captions"]["short_captions"] for s in samples)
    assert recaption_share([str(shard)]) == (2, 0)
    cfg = C.resolve(tiny_overrides("cosmos", **{"data.dataset": "shards", "data.shards": str(shard.parent)}))
    try:
        C.preflight(cfg, tmp_path / "runs")
    except C.ConfigError as exn:
        assert "needs synthetic captions" in str(exn)
    else:
        raise AssertionError("a text-crop run on alt-text-only shards must be refused")


def test_prepare_reads_img2dataset_webp_and_png(tmp_path):
    (tmp_path / "tars").mkdir()
    _img2dataset_shard(tmp_path / "tars" / "00000.tar")
    stats = prepare("img2dataset", tmp_path / "tars", tmp_path / "out")
    assert stats == {"written": 3, "skipped": 0, "shards": 1}
    files = tmp_path / "files" / "00000"
    files.mkdir(parents=True)
    for fmt in ("webp", "png"):
        Image.new("RGB", (24, 24)).save(files / f"k{fmt}.{fmt}")
        (files / f"k{fmt}.txt").write_text(f"a {fmt} photo")
    assert prepare("img2dataset", tmp_path / "files", tmp_path / "out2")["written"] == 2
    assert sorted(s["captions"]["raw_caption"][0] for s in _read(tmp_path / "out2")) == ["a png photo",
                                                                                          "a webp photo"]


def test_prepare_with_no_captioned_row_writes_nothing_and_says_why(tmp_path):
    """img2dataset run without --caption_col leaves images and no .txt: prepare refuses (the command exits 2)
    instead of writing an empty shard that training would wait on."""
    from experiments.run import main

    _images(tmp_path / "files" / "00000", ["000000001.jpg", "000000002.jpg"])
    with pytest.raises(ValueError, match="none of 2 rows .* --caption_col"):
        prepare("img2dataset", tmp_path / "files", tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.tar"))
    assert main(["prepare", "img2dataset", str(tmp_path / "files"), str(tmp_path / "out2")]) == 2


ODD = ["version 2.0 of the app\nsecond line", "no period at the end", "  spaced  out. twice..  "]


def _first_texts(urls, n):
    """The token rows a CLIP text view makes of the first n samples (no shuffling)."""
    from methods.data.stream import ShardStream
    from methods.data.views import ImageView, TextView
    from methods.encoders import build_encoders

    tokenizer = build_encoders("ViT-Micro-8-32").tokenizer()
    stream = ShardStream(urls, {"image": ImageView(24), "text": TextView("raw")}, tokenizer, batch_size=n,
                         shuffle_buffer=0)
    return next(iter(stream))[0]["text"], tokenizer


def test_clip_trains_on_alt_text_as_written(tmp_path):
    """open_clip trains on img2dataset's text as written: the suite neither splits it into sentences nor adds a
    period, whether the shards are img2dataset's own (.json `caption`) or prepared from its files or a CSV."""
    with wds.TarWriter(str(tmp_path / "own.tar")) as w:
        for i, text in enumerate(ODD):
            buf = io.BytesIO()
            Image.new("RGB", (24, 24), (30, 120, 30)).save(buf, format="JPEG")
            w.write({"__key__": f"{i:09d}", "jpg": buf.getvalue(), "txt": text.encode(),
                     "json": json.dumps({"caption": text, "status": "success"}).encode()})
    tokens, tokenizer = _first_texts([str(tmp_path / "own.tar")], len(ODD))
    assert torch.equal(tokens, tokenizer(ODD))
    names = [f"{i:09d}.jpg" for i in range(len(ODD))]
    _images(tmp_path / "files" / "00000", names)
    for name, text in zip(names, ODD):
        (tmp_path / "files" / "00000" / name).with_suffix(".txt").write_text(text)
    prepare("img2dataset", tmp_path / "files", tmp_path / "out")
    tokens, _ = _first_texts(sorted(str(p) for p in (tmp_path / "out").glob("*.tar")), len(ODD))
    assert torch.equal(tokens, tokenizer(ODD))


def test_a_folder_named_like_a_pipe_is_read_as_files_never_run(tmp_path, monkeypatch):
    """webdataset runs "pipe:CMD" names; the suite's readers (prepare's, the evaluation sets', the stream's) open
    local files only, so a folder that happens to be called so is data."""
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "pipe:touch PWNED; cat "
    evil.mkdir()
    _img2dataset_shard(evil / "00000.tar", formats=("jpg",))
    stats = prepare("img2dataset", "pipe:touch PWNED; cat ", tmp_path / "out")
    assert stats["written"] == 1 and not (tmp_path / "PWNED").exists()
