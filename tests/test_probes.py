"""Compositional and perception probes: scoring rules with known answers, readers on fixture files."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from methods.evals import EvalConfig, evaluate, probes


def test_caption_pair_accuracy_per_type_and_mean():
    img = torch.eye(4)
    pos = torch.eye(4)
    neg = torch.eye(4)[[1, 0, 3, 2]]
    neg[3] = img[3]  # a tie counts as wrong (strictly greater required)
    out = probes.caption_pair_accuracy(img, pos, neg.clone(), ["a", "a", "b", "b"])
    assert out["a"] == 100.0 and out["b"] == 50.0 and out["mean"] == 75.0
    flipped = probes.caption_pair_accuracy(img, torch.eye(4)[[1, 0, 3, 2]], torch.eye(4), ["a"] * 4)
    assert flipped["a"] == 0.0


def test_image_pair_counts_only_when_both_images_pick_their_own_caption():
    cap_a, cap_b = torch.tensor([[1.0, 0.0]] * 3), torch.tensor([[0.0, 1.0]] * 3)
    img_a = F.normalize(torch.tensor([[1.0, 0.1], [1.0, 0.1], [0.1, 1.0]]), dim=-1)
    img_b = F.normalize(torch.tensor([[0.1, 1.0], [1.0, 0.2], [0.1, 1.0]]), dim=-1)
    # pair 0: both right; pair 1: b picks caption a; pair 2: a picks caption b
    out = probes.image_pair_accuracy(img_a, img_b, cap_a, cap_b, ["p", "p", "q"])
    assert out["p"] == 50.0 and out["q"] == 0.0 and out["mean"] == 25.0


def _jpg(path, colour):
    Image.new("RGB", (40, 40), colour).save(path)


def test_sugarcrepe_reader_and_runner_on_fixture_files(tmp_path):
    images, js = tmp_path / "val2017", tmp_path / "sugarcrepe"
    images.mkdir()
    js.mkdir()
    _jpg(images / "1.jpg", "red")
    (images / "2.jpg").write_bytes(b"not a jpeg")  # corrupt: skipped and counted
    for kind in probes.SUGARCREPE_TYPES:
        data = {"0": {"filename": "1.jpg", "caption": "a red square", "negative_caption": "a blue square"},
                "1": {"filename": "2.jpg", "caption": "x", "negative_caption": "y"}}
        (js / f"{kind}.json").write_text(json.dumps(data))
    data = probes.sugarcrepe(js, images)
    assert len(data.images) == 14 and sorted(set(data.types)) == sorted(probes.SUGARCREPE_TYPES)
    from methods import build_method
    from methods.clip import CLIPConfig

    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("compositional/sugarcrepe",),
                                      paths={"sugarcrepe_dir": str(js), "coco_images": str(images)}))
    assert out["compositional/sugarcrepe/skipped_images"] == 7.0
    assert set(out) >= {f"compositional/sugarcrepe/{k}" for k in probes.SUGARCREPE_TYPES}


def test_mmvp_reader_pairs_consecutive_ids(tmp_path):
    with open(tmp_path / "Questions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Question ID", "Type", "Statement"])
        for qid, typ, text in [(1, "Color", "a red car"), (2, "Color", "a blue car"), (3, "Count", "one dog"),
                               (4, "Count", "two dogs")]:
            w.writerow([qid, typ, text])
            (tmp_path / "MMVP_VLM_Images" / typ).mkdir(parents=True, exist_ok=True)
            _jpg(tmp_path / "MMVP_VLM_Images" / typ / f"{qid}.jpg", "red")
    data = probes.mmvp_vlm(tmp_path, "pairs")
    assert data.patterns == ["Color", "Count"] and data.captions_a == ["a red car", "one dog"]
    assert probes.mmvp_vlm(tmp_path).captions_b == ["a photo of a blue car", "a photo of two dogs"]  # official
    assert data.images_b[1].endswith("Count/4.jpg")


def test_missing_probe_data_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="Questions.csv"):
        probes.mmvp_vlm(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="negative_caption"):
        probes.sugarcrepe(tmp_path / "nowhere", tmp_path)


def test_scenes_probes_score_every_type_and_pattern(scenes):
    from methods import build_method
    from methods.clip import CLIPConfig
    from methods.data.scenes.probes import COMPOSITIONAL_TYPES

    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("compositional/scenes", "perception/scenes")), scenes)
    assert {f"compositional/scenes/{t}" for t in COMPOSITIONAL_TYPES} <= set(out)
    assert all(0 <= out[k] <= 100 for k in out if not k.endswith("skipped_images"))
    assert "perception/scenes/colour" in out and "perception/scenes/mean" in out


def test_image_choice_accuracy_known_answer():
    txt = torch.eye(3)
    pos = torch.eye(3)
    neg = torch.eye(3)[[1, 2, 0]]
    neg[2] = txt[2] * 2  # the negative image scores higher for sentence 2
    out = probes.image_choice_accuracy(txt, pos, neg, ["subj", "verb", "verb"])
    assert out["subj"] == 100.0 and out["verb"] == 50.0 and out["mean"] == 75.0


def test_svo_reader_and_runner_on_fixture_files(tmp_path):
    (tmp_path / "images").mkdir()
    for i, colour in enumerate(["red", "blue", "green"]):
        _jpg(tmp_path / "images" / f"{i}.jpg", colour)
    rows = [("a dog chases a cat", 0, 1, "True", "False", "False"), ("a man rides a horse", 1, 2, "False", "True",
                                                                     "False"),
            ("a girl eats an apple", 2, 9, "False", "False", "True")]  # image 9 is missing: skipped, counted
    with open(tmp_path / "svo_probes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "pos_image_id", "neg_image_id", "subj_neg", "verb_neg", "obj_neg"])
        w.writerows(rows)
    data = probes.svo_probes(tmp_path)
    assert data.types == ["subj", "verb", "obj"] and data.negatives[2].endswith("images/9.jpg")
    from methods import build_method
    from methods.clip import CLIPConfig

    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("compositional/svo",), paths={"svo_dir": str(tmp_path)}))
    assert out["compositional/svo/skipped_images"] == 1.0 and "compositional/svo/subj" in out
