"""CLIP_benchmark's webdataset evaluation sets: read from a local folder in its layout (written here), scored by
the suite's evaluators, and reported in CLIP_benchmark's JSON layout and metric names."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from methods.errors import DataError
import webdataset as wds
from PIL import Image

from methods.evals.clip_benchmark import classification_set, retrieval_set

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _png(rgb, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(buf, format=fmt)
    return buf.getvalue()


def _wds_set(root, samples, retrieval=False):
    """A CLIP_benchmark wds folder: test/nshards.txt, test/0.tar, 1.tar, and the text files."""
    (root / "test").mkdir(parents=True)
    half = len(samples) // 2
    for i, part in enumerate((samples[:half], samples[half:])):
        with wds.TarWriter(str(root / "test" / f"{i}.tar")) as w:
            for s in part:
                w.write(s)
    (root / "test" / "nshards.txt").write_text("2\n")
    if retrieval:
        (root / "dataset_type.txt").write_text("retrieval\n")
    else:
        (root / "classnames.txt").write_text("\n".join(COLOURS) + "\n")
        (root / "zeroshot_classification_templates.txt").write_text("a photo of a {c}.\na {c} square.\n")
    return root


def _classification(root):
    formats = ("webp", "png", "jpg")
    return _wds_set(root, [{"__key__": f"{i:04d}", formats[i % 3]: _png(rgb, {"jpg": "JPEG"}.get(formats[i % 3],
                                                                                            formats[i % 3].upper())),
                            "cls": str(c).encode()} for i, (c, rgb) in enumerate(
        [(c, rgb) for c, rgb in enumerate(COLOURS.values()) for _ in range(4)])])


def _retrieval(root):
    return _wds_set(root, [{"__key__": f"{i:04d}", "jpg": _png(rgb, "JPEG"),
                            "txt": f"a {name} square\na plain {name} image".encode()}
                           for i, (name, rgb) in enumerate(COLOURS.items())], retrieval=True)


def test_the_layout_reads_into_classification_and_retrieval_sets(tmp_path):
    cls = classification_set(_classification(tmp_path / "wds_colours"))
    assert cls.classnames == list(COLOURS) and cls.templates == ["a photo of a {}.", "a {} square."]
    assert cls.labels == [0] * 4 + [1] * 4 + [2] * 4 and len(cls.images) == 12
    ret = retrieval_set(_retrieval(tmp_path / "wds_captions"))
    assert len(ret.images) == 3 and ret.captions[:2] == ["a red square", "a plain red image"]
    assert ret.caption_image == [0, 0, 1, 1, 2, 2]
    (tmp_path / "wds_colours" / "test" / "1.tar").unlink()
    with pytest.raises(FileNotFoundError, match="nshards.txt says 2 shards, missing 1.tar"):
        classification_set(tmp_path / "wds_colours")
    with pytest.raises(ValueError, match="is a retrieval set"):
        classification_set(tmp_path / "wds_captions")


def _clip_benchmark_build(files) -> list[dict]:
    """`clip_benchmark build FILES` (LAION-AI/CLIP_benchmark clip_benchmark/cli.py main_build) when installed;
    else its reading of each file, step for step: one JSON object, its metrics flattened into the row, and
    model_fullname = model + ' ' + pretrained."""
    try:
        from clip_benchmark.cli import main_build
    except ImportError:
        rows = []
        for path in files:
            data = json.load(open(path))
            row = dict(data["metrics"]) | data
            del row["metrics"]
            row["model_fullname"] = row["model"] + " " + row["pretrained"]
            rows.append(row)
        return rows
    import argparse
    import csv

    out = Path(files[0]).parent / "benchmark.csv"
    main_build(argparse.Namespace(files=[str(f) for f in files], output=str(out)))
    return [{k: float(v) if k in ("acc1", "acc5") and v else v for k, v in row.items()}
            for row in csv.DictReader(open(out))]


def test_a_checkpoint_evaluates_on_both_and_writes_clip_benchmarks_json(scenes, tmp_path):
    from experiments.run import main
    from methods.interop import export_open_clip

    from .test_methods import _build

    folder = export_open_clip(_build("clip").eval(), tmp_path / "model")
    cls, ret = _classification(tmp_path / "wds_colours"), _retrieval(tmp_path / "wds_captions")
    assert main(["eval", f"checkpoint={folder}", "eval.sets=[classification/wds,retrieval/wds]",
                 "eval.mean_per_class=true", f"eval.paths.wds_classification_dir={cls}",
                 f"eval.paths.wds_retrieval_dir={ret}", "--runs-dir", str(tmp_path / "runs")]) == 0
    run = tmp_path / "runs" / "1"
    result = json.loads((run / "run.json").read_text())["result"]
    files = sorted(run.glob("clip_benchmark_*.json"))
    assert [f.name for f in files] == ["clip_benchmark_captions_zeroshot_retrieval.json",
                                       "clip_benchmark_colours_zeroshot_classification.json"]
    records = {r["task"]: r for r in (json.loads(f.read_text()) for f in files)}  # one object per file
    c, r = records["zeroshot_classification"], records["zeroshot_retrieval"]
    assert (c["dataset"], r["dataset"]) == ("wds/colours", "wds/captions")  # its --dataset names
    rows = _clip_benchmark_build(files)
    assert {row["model_fullname"] for row in rows} == {f"{c['model']} {folder}"}
    assert {row["dataset"]: row["acc1"] for row in rows if row["task"] == "zeroshot_classification"} == \
        {"wds/colours": c["metrics"]["acc1"]}
    assert c["model"].startswith("local-dir:") and c["pretrained"] == str(folder) and c["language"] == "en"
    assert set(c["metrics"]) == {"acc1", "acc5", "mean_per_class_recall"}
    assert c["metrics"]["acc1"] == pytest.approx(result["classification/wds/top1"] / 100)
    assert c["metrics"]["mean_per_class_recall"] == pytest.approx(result["classification/wds/mean_per_class"] / 100)
    assert set(r["metrics"]) == {f"{k}_retrieval_recall@{n}" for k in ("image", "text") for n in (1, 5, 10)}
    assert r["metrics"]["image_retrieval_recall@5"] == pytest.approx(result["retrieval/wds/t2i_r5"] / 100)
    assert r["metrics"]["text_retrieval_recall@1"] == pytest.approx(result["retrieval/wds/i2t_r1"] / 100)
    assert r["metrics"]["text_retrieval_recall@5"] == 1.0, "3 images: every one is in its captions' top 5"


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / "test" / "nshards.txt").write_text("1000000000"), "says 1000000000 shards, missing 2.tar"),
    (lambda d: (d / "test" / "nshards.txt").write_text("0"), "nshards.txt says 0 shards"),
    (lambda d: (d / "zeroshot_classification_templates.txt").write_text("a photo of a {d}.\n"), "is not '{c}'"),
    (lambda d: (d / "zeroshot_classification_templates.txt").write_text("a lone { brace {c}\n"), "is not '{c}'"),
    (lambda d: (d / "classnames.txt").write_text("\n"), "need a line each"),
])
def test_a_damaged_classification_set_is_one_line(tmp_path, damage, message):
    root = _classification(tmp_path / "wds_colours")
    damage(root)
    with pytest.raises((ValueError, FileNotFoundError), match=message) as err:
        classification_set(root)
    assert "\n" not in str(err.value)


def test_a_set_with_text_labels_or_no_samples_is_one_line(tmp_path):
    root = _classification(tmp_path / "wds_colours")
    shard = root / "test" / "0.tar"
    with wds.TarWriter(str(shard)) as w:
        w.write({"__key__": "k0", "png": _png((1, 2, 3)), "cls": b"seven"})
    (root / "test" / "nshards.txt").write_text("1")
    for extra in root.glob("test/[1-9].tar"):
        extra.unlink()
    with pytest.raises(ValueError, match="has class 'seven', not a class index"):
        classification_set(root)
    with wds.TarWriter(str(shard)) as w:
        w.write({"__key__": "k0", "png": _png((1, 2, 3))})
    with pytest.raises(ValueError, match="no labelled sample"):
        classification_set(root)


def test_a_set_whose_images_are_all_unreadable_is_one_line_not_a_nan_score(tmp_path):
    from methods import build_method
    from methods.clip import CLIPConfig
    from methods.evals import EvalConfig, evaluate

    root = _wds_set(tmp_path / "wds_colours", [{"__key__": f"{i:04d}", "png": b"not an image", "cls": b"0"}
                                               for i in range(4)])
    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    with pytest.raises(DataError, match="0 of 4 items have their images"):
        evaluate(method, EvalConfig(sets=("classification/wds",), paths={"wds_classification_dir": str(root)}))


def test_a_truncated_shard_is_one_line_not_a_partial_set(tmp_path):
    root = _classification(tmp_path / "wds_colours")
    shard = root / "test" / "1.tar"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2 + 100])  # cut inside a member's header
    with pytest.raises(ValueError, match=r"1\.tar: damaged or truncated tar after \d+ samples") as err:
        classification_set(root)
    assert "\n" not in str(err.value)
