"""Evaluators: known answers on hand-made embeddings, and readers on fixture files the tests create."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from methods.evals import datasets
from methods.evals.classification import class_embeddings, classification_metrics
from methods.evals.retrieval import retrieval_metrics


def test_retrieval_known_answer_with_multiple_captions():
    img = torch.eye(3)
    # captions 0,1 -> image 0; 2 -> image 1; 3 -> image 2. caption 1 matches image 0 poorly but caption 0 perfectly.
    txt = torch.tensor([[1.0, 0, 0], [0, 0.6, 0.8], [0, 1, 0], [0, 1, 0.1]])
    txt = txt / txt.norm(dim=1, keepdim=True)
    m = retrieval_metrics(img, txt, torch.tensor([0, 0, 1, 2]), ks=(1, 2))
    # i2t: image0 best caption rank 0; image1: caption 2 ranks first; image2: caption 3 ranked behind 1 (0.8 > 0.0995)
    assert m["i2t_r1"] == pytest.approx(200 / 3, abs=1e-4)
    assert m["i2t_r2"] == pytest.approx(100.0)
    # t2i: caption0->img0 rank0; caption1 prefers img2 (0.8) over img0 (0) -> rank 2; caption2 rank 0;
    # caption3 prefers img1 (1.0) over img2 (0.0995) -> rank 1
    assert m["t2i_r1"] == pytest.approx(50.0)
    assert m["t2i_r2"] == pytest.approx(75.0)


def test_retrieval_matches_a_naive_reference_on_random_data():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(40, 16, generator=g), dim=-1)
    owner = torch.randint(0, 40, (120,), generator=g)
    owner[:40] = torch.arange(40)  # every image has at least one caption
    txt = torch.nn.functional.normalize(img[owner] + 0.8 * torch.randn(120, 16, generator=g), dim=-1)
    m = retrieval_metrics(img, txt, owner, ks=(1, 5), chunk=7)
    sims = (img @ txt.T).tolist()
    i2t = [min(sum(s > sims[i][j] for s in sims[i]) for j in range(120) if owner[j] == i) for i in range(40)]
    t2i = [sum(sims[k][j] > sims[owner[j]][j] for k in range(40)) for j in range(120)]
    for k in (1, 5):
        assert m[f"i2t_r{k}"] == pytest.approx(100 * sum(r < k for r in i2t) / 40)
        assert m[f"t2i_r{k}"] == pytest.approx(100 * sum(r < k for r in t2i) / 120)


def test_classification_known_answer():
    classes = torch.eye(4)
    img = torch.tensor([[1.0, 0, 0, 0], [0, 0.9, 0.1, 0], [0, 0.6, 0.5, 0], [0.1, 0, 0, 0.2]])
    labels = torch.tensor([0, 1, 2, 3])
    m = classification_metrics(img, classes, labels, mean_per_class=True)
    assert m["top1"] == pytest.approx(75.0) and m["top5"] == pytest.approx(100.0)
    assert m["mean_per_class"] == pytest.approx(75.0) and m["class_cos"] == pytest.approx(0.0)
    same = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1.0, 0], [0.6, 0.8]]), dim=-1)
    assert classification_metrics(img[:3, :2], same, labels[:3])["class_cos"] == pytest.approx((1 + 0.6 + 0.6) / 3)
    m = classification_metrics(img[[0, 0, 2]], classes, torch.tensor([0, 0, 2]), mean_per_class=True)
    assert m["top1"] == pytest.approx(200 / 3) and m["mean_per_class"] == pytest.approx(50.0)


def test_class_embedding_is_mean_of_normalised_templates():
    def encode(tokens):
        return tokens.float()

    def tok(texts):
        return torch.tensor([[1.0, 0.0] if "photo" in t else [0.0, 3.0] for t in texts])

    emb = class_embeddings(encode, tok, ["cat"], ["a photo of a {}.", "a drawing of a {}."])
    assert torch.allclose(emb, torch.tensor([[2 ** -0.5, 2 ** -0.5]]))


def _img(path, ok=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    if ok:
        Image.new("RGB", (20, 16), (200, 10, 10)).save(path)
    else:
        path.write_bytes(b"not an image")


def test_coco_val2017_and_karpathy_readers(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        _img(tmp_path / "val2017" / name)
    val = {"images": [{"id": 7, "file_name": "a.jpg"}, {"id": 3, "file_name": "b.jpg"}],
           "annotations": [{"image_id": 3, "id": 1, "caption": "b one "}, {"image_id": 7, "id": 2, "caption": "a"},
                           {"image_id": 3, "id": 3, "caption": "b two"}]}
    (tmp_path / "captions_val2017.json").write_text(json.dumps(val))
    s = datasets.coco_captions(tmp_path / "val2017", tmp_path / "captions_val2017.json")
    assert s.captions == ["a", "b one", "b two"] and s.caption_image == [0, 1, 1]
    kar = {"images": [{"filepath": "val2017", "filename": "a.jpg", "split": "test", "sentences": [{"raw": "x"}]},
                      {"filepath": "val2017", "filename": "b.jpg", "split": "train", "sentences": [{"raw": "y"}]}]}
    (tmp_path / "dataset_coco.json").write_text(json.dumps(kar))
    s = datasets.coco_captions(tmp_path, tmp_path / "dataset_coco.json")
    assert s.images == [str(tmp_path / "val2017" / "a.jpg")] and s.captions == ["x"]


def test_missing_dataset_path_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected layout"):
        datasets.coco_captions(tmp_path / "nope", tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="<root>/<class"):
        datasets.image_folder(tmp_path / "missing")


def test_image_folder_reader_and_corrupt_image_is_skipped(tmp_path):
    _img(tmp_path / "golden_retriever" / "1.jpg")
    _img(tmp_path / "tabby_cat" / "2.png")
    _img(tmp_path / "tabby_cat" / "3.jpg", ok=False)
    d = datasets.image_folder(tmp_path)
    assert d.classnames == ["golden retriever", "tabby cat"] and d.labels == [0, 1, 1]
    src = datasets.ImageSource(d.images, lambda im: torch.zeros(3, 8, 8) + im.size[0], 8)
    oks = [src[i][1] for i in range(3)]
    assert oks == [1, 1, 0]


def test_evaluate_end_to_end_with_a_random_model_is_near_chance(scenes):
    from methods import METHODS, build_method
    from methods.evals import EvalConfig, evaluate

    torch.manual_seed(0)
    m = build_method("clip", METHODS["clip"].Config(), "ViT-Micro-8-32").eval()
    out = evaluate(m, EvalConfig(batch_size=32), scenes)
    assert set(out) >= {"retrieval/scenes/i2t_r1", "retrieval/scenes/t2i_r10", "classification/scenes/top1"}
    assert out["retrieval/scenes/skipped_images"] == 0
    assert out["classification/scenes/top1"] < 40


def test_linear_probe_separates_separable_features_and_fails_on_noise():
    from methods.evals.linear_probe import linear_probe

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=g) * 3
    y_train, y_test = torch.arange(200) % 4, torch.arange(100) % 4
    x_train = centres[y_train] + 0.3 * torch.randn(200, 16, generator=g)
    x_test = centres[y_test] + 0.3 * torch.randn(100, 16, generator=g)
    assert linear_probe(x_train, y_train, x_test, y_test)["top1"] == 100.0
    noise = linear_probe(torch.randn(200, 16, generator=g), y_train, torch.randn(100, 16, generator=g), y_test)
    assert noise["top1"] < 50.0  # chance is 25%


def test_linear_probe_runs_on_the_benchmark(scenes):
    from methods import build_method
    from methods.clip import CLIPConfig
    from methods.evals import EvalConfig, evaluate

    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("linear/scenes",), linear_train_size=200), scenes)
    assert 0 <= out["linear/scenes/top1"] <= 100 and out["linear/scenes/skipped_images"] == 0


def test_one_evaluation_encodes_a_shared_image_list_once_with_the_same_numbers(scenes):
    """Retrieval and zero-shot classification read the same test split: one evaluation encodes it once (the
    second set gets the first's tensors), and every metric and per-item record equals the sets evaluated apart."""
    from experiments import config as C
    from methods import build_method
    from methods.evals import EvalConfig, evaluate

    from .conftest import tiny_overrides

    cfg = C.resolve(tiny_overrides("clip"))
    torch.manual_seed(0)
    method = build_method("clip", cfg.method_config, cfg.encoder).eval()
    encoded = []
    original = method.encode_image

    def counting(images):
        encoded.append(len(images))
        return original(images)

    method.encode_image = counting
    sets = ("retrieval/scenes", "classification/scenes")
    together_items, apart_items = {}, {}
    together = evaluate(method, EvalConfig(sets=sets, batch_size=64), scenes, items=together_items)
    once = sum(encoded)
    encoded.clear()
    apart = {}
    for spec in sets:
        apart |= evaluate(method, EvalConfig(sets=(spec,), batch_size=64), scenes, items=apart_items)
    assert sum(encoded) == 2 * once, "apart, each set encodes the split itself"
    assert together == apart
    assert together_items.keys() == apart_items.keys()
    assert all(torch.equal(torch.as_tensor(together_items[k]), torch.as_tensor(apart_items[k])) for k in apart_items)
