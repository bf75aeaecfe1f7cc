"""Evaluation data in the layouts its owners publish it (small excerpts written here with the published column
and folder names), the owners' scoring protocols on hand-computed cases, and one-line errors for wrong layouts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from methods.errors import DataError
import torch
import torch.nn.functional as F
from PIL import Image

from methods.evals import EvalConfig, datasets, evaluate, probes


def _jpg(path, colour="red"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)


def _mmvp(root, folder="MLLM_VLM Images"):
    with open(root / "Questions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Question ID", "Type", "Statement"])
        for qid, typ, text in [(1, "Orientation", "The dog faces left"), (2, "Orientation", "The dog faces right"),
                               (3, "Color", "a red car"), (4, "Color", "a blue car")]:
            w.writerow([qid, typ, text])
            _jpg(root / folder / typ / f"{qid}.jpg", "red" if qid % 2 else "blue")


@pytest.mark.parametrize("folder", ["MLLM_VLM Images", "MMVP_VLM_Images"])
def test_mmvp_vlm_reads_the_hugging_face_download_and_the_readme_layout(tmp_path, folder):
    _mmvp(tmp_path, folder)
    data = probes.mmvp_vlm(tmp_path)
    assert len(data.images_a) == 2 and all(p.endswith(".jpg") for p in data.images_a + data.images_b)
    assert all(Path(p).exists() for p in data.images_a + data.images_b)
    assert data.captions_a[1] == "a photo of a red car" and folder in data.layout


def test_mmvp_official_rule_each_statement_picks_its_image_ties_go_to_the_second():
    img_a, img_b = torch.tensor([[1.0, 0.0]] * 4), torch.tensor([[0.0, 1.0]] * 4)
    cap_a = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5], [0.9, 0.1]])  # pair 2: statement a ties -> picks b
    cap_b = torch.tensor([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])  # pair 1: b picks a; pair 3: tie -> b
    assert probes.statement_choice_correct(img_a, img_b, cap_a, cap_b).tolist() == [True, False, False, True]
    # the suite's rule asks the images instead: an image preferring statement b over its own fails the pair
    img_a2 = F.normalize(torch.tensor([[1.0, 0.0], [0.2, 1.0]]), dim=-1)
    caps = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert probes.pair_correct(img_a2, torch.tensor([[0.0, 1.0]] * 2), *caps).tolist() == [True, False]


def test_mmvp_evaluation_on_published_files_and_zero_images_is_one_line(tmp_path):
    from methods import build_method
    from methods.clip import CLIPConfig

    _mmvp(tmp_path)
    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    formats = {}
    out = evaluate(method, EvalConfig(sets=("perception/mmvp",), paths={"mmvp_dir": str(tmp_path)}),
                   formats=formats)
    assert out["perception/mmvp/skipped_images"] == 0 and {"perception/mmvp/Color", "perception/mmvp/mean"} <= set(out)
    assert "MLLM_VLM Images" in formats["perception/mmvp"] and "protocol official" in formats["perception/mmvp"]
    for p in (tmp_path / "MLLM_VLM Images").rglob("*.jpg"):
        p.unlink()
    with pytest.raises(DataError, match="0 of 2 items have their images"):
        evaluate(method, EvalConfig(sets=("perception/mmvp",), paths={"mmvp_dir": str(tmp_path)}))


def _svo_csv(root, rows):
    cols = ["sentence", "pos_triplet", "neg_triplet", "subj_neg", "verb_neg", "obj_neg", "pos_url", "neg_url",
            "pos_image_id", "neg_image_id"]
    with open(root / "svo_probes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for sentence, subj, verb, obj, pos, neg in rows:
            w.writerow([sentence, "a,b,c", "a,b,d", subj, verb, obj, f"http://x.org/img/{pos}.jpeg?s=1",
                        f"http://x.org/img/{neg}.jpeg", pos, neg])


def test_svo_reads_images_named_by_id_or_by_url_and_keeps_single_flag_rows(tmp_path):
    _svo_csv(tmp_path, [("dog chase cat", "True", "False", "False", 10, 11),
                        ("man ride horse", "False", "True", "True", 12, 13),  # two flags: not in the colab's frames
                        ("girl eat apple", "False", "False", "True", 14, 15)])
    _jpg(tmp_path / "images" / "10.jpg")
    _jpg(tmp_path / "images" / "11.jpeg")
    _jpg(tmp_path / "images" / "14.jpeg")  # by the URL's file name
    (tmp_path / "images" / "15.png").parent.mkdir(exist_ok=True)
    _jpg(tmp_path / "images" / "15.png")
    data = probes.svo_probes(tmp_path)
    assert data.types == ["subj", "obj"] and data.positive_ids == ["10", "14"]
    assert data.negatives[0].endswith("11.jpeg") and data.positives[1].endswith("14.jpeg")
    assert data.negatives[1].endswith("15.png") and "by URL" in data.layout
    assert probes.svo_probes(tmp_path, "ranking").types == ["subj", "verb", "obj"]  # first true flag


def test_svo_official_scoring_deduplicates_and_averages_positive_and_negative_accuracy():
    # rows: (sentence 0, pos 0, neg 1) right; (sentence 0, pos 0, neg 2) wrong (the negative wins);
    # (sentence 1, pos 3, neg 4) right. Positive decisions: (s0, img0): match in row 0, no match in row 1 -> 2 distinct
    # rows (drop_duplicates keeps both), (s1, img3) match -> pos accuracy 2/3; negative: all three distinct, the
    # second judged a match -> neg accuracy 2/3; the colab's accuracy = (2/3 + 2/3) / 2.
    txt = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    neg = torch.tensor([[0.0, 1.0], [0.9, 0.1], [1.0, 0.0]])
    items = probes.svo_items(txt, pos, neg, ["s0", "s0", "s1"], ["0", "0", "3"], ["1", "2", "4"],
                             ["verb", "verb", "obj"])
    out = probes.svo_accuracy(items)
    assert out["mean"] == pytest.approx(100 * 2 / 3) and out["obj"] == 100.0
    assert out["verb"] == pytest.approx(50 * (1 / 2 + 1 / 2))
    # the same decision twice is one row: duplicating row 2 changes nothing
    items2 = probes.svo_items(txt[[0, 1, 2, 2]], pos[[0, 1, 2, 2]], neg[[0, 1, 2, 2]], ["s0", "s0", "s1", "s1"],
                              ["0", "0", "3", "3"], ["1", "2", "4", "4"], ["verb", "verb", "obj", "obj"])
    assert probes.svo_accuracy(items2) == out


def test_svo_evaluation_warns_and_records_a_type_that_lost_every_image(tmp_path):
    from methods import build_method
    from methods.clip import CLIPConfig

    _svo_csv(tmp_path, [("dog chase cat", "True", "False", "False", 10, 11),
                        ("girl eat apple", "False", "False", "True", 14, 15)])
    for i in (10, 11):
        _jpg(tmp_path / "images" / f"{i}.jpg")
    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    with pytest.warns(UserWarning, match="left out of the mean: obj"):
        out = evaluate(method, EvalConfig(sets=("compositional/svo",), paths={"svo_dir": str(tmp_path)}))
    assert out["compositional/svo/dropped_groups"] == 1.0 and "compositional/svo/subj" in out


def _coco_images(root, names):
    for n in names:
        _jpg(root / n)


def test_coco_reads_blip_karpathy_test_and_karpathy_json_from_the_root_or_the_image_folder(tmp_path):
    blip = [{"image": "val2014/COCO_val2014_000000000001.jpg", "caption": ["a cat", "a pet"]},
            {"image": "val2014/COCO_val2014_000000000002.jpg", "caption": ["a dog"]}]
    (tmp_path / "coco_karpathy_test.json").write_text(json.dumps(blip))
    _coco_images(tmp_path, [b["image"] for b in blip])
    s = datasets.coco_captions(tmp_path, tmp_path / "coco_karpathy_test.json")
    assert s.captions == ["a cat", "a pet", "a dog"] and s.caption_image == [0, 0, 1] and "BLIP" in s.layout
    assert all(Path(p).exists() for p in s.images)
    s2 = datasets.coco_captions(tmp_path / "val2014", tmp_path / "coco_karpathy_test.json")  # the image folder
    assert all(Path(p).exists() for p in s2.images)
    karpathy = {"images": [{"filepath": "val2014", "filename": "COCO_val2014_000000000001.jpg", "split": "test",
                            "sentences": [{"raw": "a cat"}]},
                           {"filepath": "val2014", "filename": "COCO_val2014_000000000002.jpg", "split": "train",
                            "sentences": [{"raw": "a dog"}]}]}
    (tmp_path / "dataset_coco.json").write_text(json.dumps(karpathy))
    for images_dir in (tmp_path, tmp_path / "val2014"):  # docs/data.md's example points at the image folder
        s3 = datasets.coco_captions(images_dir, tmp_path / "dataset_coco.json")
        assert s3.captions == ["a cat"] and Path(s3.images[0]).exists()


def test_flickr_reads_clip_benchmark_txt_and_nlphuji_csv(tmp_path):
    for n in ("1000092795.jpg", "10002456.jpg"):
        _jpg(tmp_path / "flickr30k-images" / n)
    (tmp_path / "flickr30k_test_karpathy.txt").write_text(
        "image,caption\n1000092795.jpg,Two young guys, shaggy hair.\n1000092795.jpg,Two friends.\n"
        "10002456.jpg,Several men in hard hats.\n")
    s = datasets.flickr30k(tmp_path / "flickr30k-images", tmp_path / "flickr30k_test_karpathy.txt")
    assert s.captions == ["Two young guys, shaggy hair.", "Two friends.", "Several men in hard hats."]
    assert s.caption_image == [0, 0, 1] and "CLIP_benchmark" in s.layout
    with open(tmp_path / "flickr_annotations_30k.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["raw", "sentids", "split", "filename", "img_id"])
        w.writerow([json.dumps(["Two young guys.", "Two men."]), "[0, 1]", "test", "1000092795.jpg", 0])
        w.writerow([json.dumps(["A train caption."]), "[2]", "train", "10002456.jpg", 1])
    s2 = datasets.flickr30k(tmp_path / "flickr30k-images", tmp_path / "flickr_annotations_30k.csv")
    assert s2.captions == ["Two young guys.", "Two men."] and len(s2.images) == 1 and "nlphuji" in s2.layout


@pytest.mark.parametrize("reader,name,content", [
    ("coco", "captions.json", "[1, 2, 3]"),
    ("coco", "captions.json", '{"images": [{"file_name": "x.jpg"}]}'),
    ("coco", "captions.json", "not json at all"),
    ("flickr", "ann.json", '{"something": 1}'),
    ("flickr", "ann.txt", "header\nno image here\n"),
    ("flickr", "ann.csv", "a,b\n1,2\n"),
    ("mmvp", "Questions.csv", "id,kind\n1,2\n"),
    ("svo", "svo_probes.csv", "sentence,pos_image_id\nx,1\n"),
])
def test_a_file_in_another_format_is_one_line_naming_the_expected_layout(tmp_path, reader, name, content):
    (tmp_path / name).write_text(content)
    (tmp_path / "MLLM_VLM Images").mkdir()
    with pytest.raises(ValueError, match="expected") as err:
        if reader == "coco":
            datasets.coco_captions(tmp_path, tmp_path / name)
        elif reader == "flickr":
            datasets.flickr30k(tmp_path, tmp_path / name)
        elif reader == "mmvp":
            probes.mmvp_vlm(tmp_path)
        else:
            probes.svo_probes(tmp_path)
    assert "\n" not in str(err.value)


def test_a_wrong_mmvp_folder_names_both_published_folders(tmp_path):
    _mmvp(tmp_path, "images")
    with pytest.raises(FileNotFoundError, match="MLLM_VLM Images"):
        probes.mmvp_vlm(tmp_path)


def test_unknown_protocols_are_config_errors():
    with pytest.raises(ValueError, match="mmvp_protocol"):
        EvalConfig(mmvp_protocol="mine")
    with pytest.raises(ValueError, match="svo_protocol"):
        EvalConfig(svo_protocol="mine")


def test_a_wrong_layout_met_during_a_run_is_one_line_and_the_run_failed(scenes, tmp_path, capsys):
    from experiments.run import main

    (tmp_path / "mmvp").mkdir()
    (tmp_path / "mmvp" / "Questions.csv").write_text("x\n")
    from .conftest import tiny_overrides

    sets = [f"{k}={v}" for k, v in tiny_overrides("clip", **{"train.steps": 1}).items() if k != "eval.sets"]
    argv = ["train", *sets, "eval.sets=[perception/mmvp]", f"eval.paths.mmvp_dir={tmp_path / 'mmvp'}",
            "--runs-dir", str(tmp_path / "runs")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: perception/mmvp: ") and "Questions.csv" in err[0]
    status = [json.loads(p.read_text())["status"] for p in (tmp_path / "runs").glob("*/run.json")]
    assert status == ["FAILED"]
