"""Zero-shot segmentation: known answers for the protocol's pieces and an end-to-end run on the benchmark."""

from __future__ import annotations

import torch

from methods.evals import segmentation as S


def test_confusion_and_miou_known_answer():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 2]])
    conf = S.confusion(pred, gt, 3)
    assert conf.sum() == 6  # ignored pixels left out
    # IoU: class 0: tp 1, union 1+2+... = |gt0 ∪ pred0| = 3; class 1: tp 2, union 3; class 2: tp 1, union 2
    out = S.miou(conf)
    assert abs(out["miou"] - 100 * (1 / 3 + 2 / 3 + 1 / 2) / 3) < 1e-6
    assert abs(out["pixel_acc"] - 100 * 4 / 6) < 1e-6


def test_predict_thresholds_background_and_drops_small_areas():
    logits = torch.zeros(2, 4, 4)
    logits[0, :2] = 1.0  # confident class 1 (label 1) on the top half
    logits[1, 3, 3] = 1.0  # one confident pixel of class 2 (label 2)
    p = S.SegmentationProtocol(logit_scale=50.0, prob_threshold=0.9)
    label = S.predict(logits, p)
    assert (label[:2] == 1).all() and label[3, 3] == 2 and (label[2] == 0).all()
    dropped = S.predict(logits, S.SegmentationProtocol(logit_scale=50.0, prob_threshold=0.9, area_threshold=0.1))
    assert dropped[3, 3] == 0 and (dropped[:2] == 1).all()


def test_dense_logits_upsample_and_take_the_max_over_synonyms():
    text = torch.eye(3)  # 3 synonyms: class 0 has two ("a, b"), class 1 one
    owner = torch.tensor([0, 0, 1])

    def tokens(x):  # 2x2 patch grid: left column aligned with synonym b, right column with class 1
        t = torch.zeros(1, 4, 3)
        t[0, [0, 2], 1] = 1.0
        t[0, [1, 3], 2] = 1.0
        return t

    out = S.dense_logits(tokens, torch.zeros(3, 16, 16), text, owner, window=16, stride=8, patch=8)
    assert out.shape == (2, 16, 16)
    assert out[0, :, :4].min() > 0.99 and out[1, :, 12:].min() > 0.99  # class 0 via its 2nd synonym


def test_segmentation_runs_on_the_benchmark(scenes):
    from methods import build_method
    from methods.clip import CLIPConfig
    from methods.evals import EvalConfig, evaluate

    method = build_method("clip", CLIPConfig(), "ViT-Micro-8-32").eval()
    out = evaluate(method, EvalConfig(sets=("segmentation/scenes",)), scenes)
    assert 0 <= out["segmentation/scenes/miou"] <= 100 and out["segmentation/scenes/skipped_images"] == 0
