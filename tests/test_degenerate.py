"""Broken models never score: NaN embeddings are refused, collapsed (constant) ones score at or below chance."""

from __future__ import annotations

import pytest
import torch

from methods.evals import probes
from methods.evals import sclip as segmentation
from methods.evals.classification import classification_metrics
from methods.evals.finite import NonFiniteEmbeddings
from methods.evals.linear_probe import linear_probe
from methods.evals.retrieval import retrieval_metrics

NAN = float("nan")


def _unit(n, d=8, seed=0):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


@pytest.mark.parametrize("which", ["image", "text"])
@pytest.mark.parametrize("bad", [NAN, float("inf")])
def test_retrieval_refuses_non_finite_embeddings(which, bad):
    img, txt = _unit(5), _unit(5, seed=1)
    (img if which == "image" else txt)[2, 0] = bad
    with pytest.raises(NonFiniteEmbeddings, match=f"{which} embeddings are not finite \\(1 of 5 rows"):
        retrieval_metrics(img, txt, torch.arange(5))


def test_collapsed_retrieval_ranks_last_not_first():
    """All scores equal: every other item ties with the positive, and ties count against the query."""
    img = torch.ones(12, 4) / 2
    txt = torch.ones(24, 4) / 2
    m = retrieval_metrics(img, txt, torch.arange(24) // 2, ks=(1, 5, 10))
    assert m["i2t_r1"] == m["t2i_r1"] == 0.0
    assert m["t2i_r10"] == 0.0  # 11 other images tie with each caption's own image: rank 11
    assert m["i2t_r10"] == 0.0  # an image's 2 captions tie with the 22 others': rank 22


def test_a_tie_between_the_positive_and_one_negative_costs_one_rank():
    img = torch.eye(3)
    txt = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1]])  # captions 0 and 1 are identical
    m = retrieval_metrics(img, txt, torch.tensor([0, 1, 2]), ks=(1, 2))
    # t2i: caption 1 (image 1) scores image 0 at 1 above its own image at 0, and image 2 ties at 0 -> rank 2
    assert m["t2i_r1"] == pytest.approx(200 / 3) and m["t2i_r2"] == pytest.approx(200 / 3)
    # i2t: image 0 sees captions 0 (own) and 1 (image 1's) at 1.0: the tie counts against it -> rank 1
    assert m["i2t_r1"] == pytest.approx(100 / 3)  # only image 2 ranks its caption strictly first
    assert m["i2t_r2"] == pytest.approx(200 / 3)  # image 1's caption scores 0, behind captions 0 and 1


def test_classification_refuses_nan_and_scores_a_collapsed_model_zero():
    classes = torch.eye(4)
    with pytest.raises(NonFiniteEmbeddings, match="image embeddings"):
        classification_metrics(torch.full((3, 4), NAN), classes, torch.tensor([0, 1, 2]))
    same = torch.ones(4, 4) / 2  # every class embedding identical: all logits tie
    m = classification_metrics(_unit(8, 4), same, torch.arange(8) % 4, mean_per_class=True)
    assert m["top1"] == m["mean_per_class"] == 0.0 and m["top5"] == 100.0  # 4 classes: top-5 holds all of them


def test_probes_and_linear_probe_refuse_nan():
    x = _unit(4)
    bad = x.clone()
    bad[0, 0] = NAN
    with pytest.raises(NonFiniteEmbeddings):
        probes.caption_pair_accuracy(x, bad, x, ["a"] * 4)
    with pytest.raises(NonFiniteEmbeddings):
        probes.image_choice_accuracy(bad, x, x, ["a"] * 4)
    with pytest.raises(NonFiniteEmbeddings):
        probes.image_pair_accuracy(x, x, x, bad, ["a"] * 4)
    with pytest.raises(NonFiniteEmbeddings, match="linear-probe train features"):
        linear_probe(bad, torch.arange(4) % 2, x, torch.arange(4) % 2)
    # a collapsed model's probes: every comparison ties, and a tie is wrong
    const = torch.ones(4, 8) / 8 ** 0.5
    assert probes.caption_pair_accuracy(const, const, const, ["a"] * 4)["mean"] == 0.0
    assert probes.image_pair_accuracy(const, const, const, const, ["a"] * 4)["mean"] == 0.0


def test_segmentation_ties_are_misses_and_nan_is_refused():
    p = segmentation.SegmentationProtocol(logit_scale=10.0)
    owner = torch.tensor([0, 1, 2])
    gt = torch.zeros(4, 4, dtype=torch.long)
    gt[2:] = 1
    flat = torch.zeros(3, 4, 4)  # a collapsed model: every query scores alike at every pixel
    pred = segmentation.predict(flat, owner, p)
    assert (pred == segmentation.UNDECIDED).all()
    assert segmentation.miou(segmentation.confusion(pred, gt, 3))["miou"] == 0.0  # not the all-background score
    # a decided pixel still scores: background predicted on the top half is right
    logits = flat.clone()
    logits[0, :2] = 1.0
    m = segmentation.miou(segmentation.confusion(segmentation.predict(logits, owner, p), gt, 3))
    assert m["miou"] == pytest.approx(100 * (8 / 8 + 0 / 8) / 2) and m["pixel_acc"] == pytest.approx(50.0)
    with pytest.raises(NonFiniteEmbeddings, match="segmentation logits"):
        segmentation.predict(flat.fill_(NAN), owner, p)
