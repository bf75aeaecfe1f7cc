"""Readers of the real segmentation benchmarks on fixture folders in their standard layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from methods.evals import segsets


def _image(path: Path, size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _mask(path: Path, labels: list[int], size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((size[1], size[0]), dtype=np.uint8)
    for i, v in enumerate(labels):  # vertical stripes of the given labels
        m[:, i * size[0] // len(labels):(i + 1) * size[0] // len(labels)] = v
    Image.fromarray(m).save(path)


def make_voc(root: Path, ids=("2007_000033", "2007_000042")) -> Path:
    for i in ids:
        _image(root / "JPEGImages" / f"{i}.jpg")
        _mask(root / "SegmentationClass" / f"{i}.png", [0, 15, 255])
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    return root


def test_voc_reader_follows_the_split_list(tmp_path):
    root = make_voc(tmp_path / "VOC2012")
    s = segsets.read_benchmark("voc21", root, names="dataset")
    assert [p.name for p in s.images] == ["2007_000033.jpg", "2007_000042.jpg"]
    assert [p.name for p in s.masks] == ["2007_000033.png", "2007_000042.png"]
    assert s.classnames[0] == "background" and len(s.classnames) == 21 and not s.reduce_zero_label
    assert s.protocol.logit_scale == 65.0 and s.protocol.prob_threshold == 0.1 and s.protocol.area_threshold == 0.1
    assert len(s.templates) == 80 and segsets.read_benchmark("voc20", root).reduce_zero_label


def test_folder_benchmarks_find_images_recursively(tmp_path):
    city = tmp_path / "cityscapes"
    for c, f in (("frankfurt", "frankfurt_000000_000294"), ("lindau", "lindau_000000_000019")):
        _image(city / "leftImg8bit" / "val" / c / f"{f}_leftImg8bit.png")
        _mask(city / "gtFine" / "val" / c / f"{f}_gtFine_labelTrainIds.png", [0, 18])
    s = segsets.read_benchmark("cityscapes", city)
    assert [m.name for m in s.masks] == ["frankfurt_000000_000294_gtFine_labelTrainIds.png",
                                         "lindau_000000_000019_gtFine_labelTrainIds.png"]
    assert s.protocol.short_side == 560 and len(s.classnames) == 19
    coco = tmp_path / "coco_stuff164k"
    _image(coco / "images" / "val2017" / "000000000139.jpg")
    _mask(coco / "annotations" / "val2017" / "000000000139_labelTrainIds.png", [0, 170])
    _mask(coco / "annotations" / "val2017" / "000000000139_instanceTrainIds.png", [0, 80])
    assert segsets.read_benchmark("cocostuff", coco).masks[0].name.endswith("_labelTrainIds.png")
    assert segsets.read_benchmark("cocoobject", coco).masks[0].name.endswith("_instanceTrainIds.png")


def test_missing_data_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="ADEChallengeData2016>/images/validation"):
        segsets.read_benchmark("ade20k", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="voc_dir"):
        segsets.read_benchmark("voc20", "")
    root = make_voc(tmp_path / "VOC2012")
    (root / "SegmentationClass" / "2007_000042.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 label maps missing.*2007_000042.png"):
        segsets.read_benchmark("voc20", root)


def test_sclip_name_files_replace_the_builtin_names(tmp_path):
    root = make_voc(tmp_path / "VOC2012")
    names = tmp_path / "names"
    names.mkdir()
    lines = ["sky, wall, tree"] + list(segsets.VOC[:14]) + ["person, person in shirt"] + list(segsets.VOC[15:])
    (names / "cls_voc21.txt").write_text("\n".join(lines) + "\n")
    assert segsets.read_benchmark("voc21", root, str(names)).classnames == lines
    assert segsets.read_benchmark("voc20", root, str(names), names="dataset").classnames == list(segsets.VOC)
    assert segsets.read_benchmark("voc20", root, str(names)).classnames[3] == "ship"  # no file there: SCLIP's
    (names / "cls_voc20.txt").write_text("aeroplane\nbicycle\n")
    with pytest.raises(ValueError, match="2 class lines, but the benchmark has 20"):
        segsets.read_benchmark("voc20", root, str(names))


def test_reduce_zero_label_known_answer():
    gt = torch.tensor([[0, 1, 2], [255, 20, 0]])
    assert segsets.reduce_zero_label(gt).tolist() == [[255, 0, 1], [255, 19, 255]]


def test_a_real_benchmark_evaluates_end_to_end_and_skips_a_corrupt_image(tmp_path):
    from methods import build_method
    from methods.clip import CLIPConfig
    from methods.evals import EvalConfig, evaluate

    root = make_voc(tmp_path / "VOC2012", ids=("a", "b", "c"))
    (root / "JPEGImages" / "c.jpg").write_bytes(b"not a jpeg")
    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("segmentation/voc20",), paths={"voc_dir": str(root)}))
    assert out["segmentation/voc20/skipped_images"] == 1
    for k in ("miou", "miou_csa", "pixel_acc", "pixel_acc_csa"):
        assert 0 <= out[f"segmentation/voc20/{k}"] <= 100
