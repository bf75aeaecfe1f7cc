"""The prepare command: local image-text data in three layouts -> shards the training stream reads."""

from __future__ import annotations

import csv
import json

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
    assert samples[0]["captions"]["raw_caption"] == ["a red square", "on grass"]
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
