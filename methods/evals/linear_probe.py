"""Linear probe on frozen image features (SLIP's second column): L2-regularised multinomial logistic regression
(scikit-learn, L-BFGS) on normalised embeddings of a train split, top-1 on a test split. The regularisation
strength is chosen on a held-out 20% of the train features from a small grid, then refit on all of them."""

from __future__ import annotations

import numpy as np
import torch

from . import datasets, scenesets
from .evaluator import Evaluator, percent
from .finite import require_finite

C_GRID = (0.1, 1.0, 10.0, 100.0)


def _fit(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000).fit(x, y)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 seed: int = 0, items: dict | None = None) -> dict[str, float]:
    """train_x (N, D), test_x (M, D) features; labels (N,), (M,) -> {"top1": %, "C": chosen strength}; with
    `items`, items["correct"] gets the (M,) per-test-image correctness."""
    require_finite(train_x, "linear-probe train features")
    require_finite(test_x, "linear-probe test features")
    x, y = train_x.float().numpy(), train_y.numpy()
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    fit_idx, val_idx = order[:cut], order[cut:]
    scores = {c: _fit(x[fit_idx], y[fit_idx], c).score(x[val_idx], y[val_idx]) for c in C_GRID}
    best = max(scores, key=scores.get)
    model = _fit(x, y, best)
    correct = model.predict(test_x.float().numpy()) == test_y.numpy()
    if items is not None:
        items["correct"] = correct
    return {"top1": 100.0 * float(correct.mean()), "C": float(best)}


# ---- the evaluator plug-in (methods/evals/evaluator.py) ------------------------------------------------------


def run(method, data, cfg, items: dict) -> dict[str, float]:
    from .embed import embed_images

    (train, test), feats = data, []
    for part in (train, test):
        x, ok = embed_images(method, part.images, cfg)
        feats.append((x[ok], torch.tensor(part.labels)[ok], int((~ok).sum())))
    (tx, ty, s1), (vx, vy, s2) = feats
    return linear_probe(tx, ty, vx, vy, items=items) | {"skipped_images": float(s1 + s2)}


def unit(metric: str) -> str:
    return "correct"


def resample(metric: str, items: dict, weights):
    """top-1: the weighted share of correctly classified test images (the fitted probe is held fixed)."""
    return percent(weights, items["correct"]) if metric == "top1" else None


def _imagenet(cfg, scenes):
    return datasets.image_folder(cfg.path("linear_train_dir")), datasets.image_folder(cfg.path("imagenet_dir"))


EVALUATOR = Evaluator("linear", {"scenes": scenesets.linear, "imagenet": _imagenet}, run, unit, resample,
                      paths={"imagenet": ("linear_train_dir", "imagenet_dir")})
