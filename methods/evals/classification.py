"""Zero-shot classification (CLIP protocol): class embedding = mean of normalised template embeddings,
re-normalised; top-1 / top-5 accuracy and optionally the mean per-class accuracy. Also `class_cos`, the mean
cosine between different classes' embeddings: near 1 means the text tower does not tell the class names apart
(a chance-level top-1 is then a text-side failure, whatever the image features hold).
An image's rank is the number of other classes scoring at least as high as its true class: ties count against
it, so a collapsed model (all scores equal) scores 0, never the frequency of whichever class sorts first.
Non-finite embeddings are refused (methods/evals/finite.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import datasets, scenesets
from .evaluator import Evaluator, group_mean, percent, require_images
from .finite import require_finite


def class_embeddings(encode_text, tokenizer, classnames: list[str], templates: list[str]) -> torch.Tensor:
    """(C, D): for each class, encode every template, normalise, average, re-normalise."""
    rows = []
    for name in classnames:
        emb = F.normalize(encode_text(tokenizer([t.format(name) for t in templates])), dim=-1)
        rows.append(F.normalize(emb.mean(dim=0), dim=-1))
    return torch.stack(rows)


def class_ranks(image_emb: torch.Tensor, class_emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N,) the number of other classes scoring at least as high as each image's true class (0 = top-1)."""
    logits = require_finite(image_emb, "image embeddings") @ require_finite(class_emb, "class embeddings").T
    true = logits.gather(1, labels[:, None])
    return (logits >= true).sum(dim=1) - 1


def classification_metrics(image_emb: torch.Tensor, class_emb: torch.Tensor, labels: torch.Tensor,
                           mean_per_class: bool = False, rank: torch.Tensor | None = None) -> dict[str, float]:
    """image_emb (N, D), class_emb (C, D) normalised, labels (N,) -> {"top1": %, "top5": %[, "mean_per_class"]};
    `rank`: the class_ranks of these inputs when the caller has them already."""
    rank = class_ranks(image_emb, class_emb, labels) if rank is None else rank
    out = {"top1": 100.0 * (rank < 1).float().mean().item(), "top5": 100.0 * (rank < 5).float().mean().item()}
    c = class_emb.shape[0]
    if c > 1:
        out["class_cos"] = ((class_emb @ class_emb.T).sum() - class_emb.pow(2).sum()).item() / (c * (c - 1))
    if mean_per_class:
        count = torch.bincount(labels, minlength=class_emb.shape[0]).float()
        correct = torch.bincount(labels, weights=(rank < 1).float(), minlength=class_emb.shape[0])
        out["mean_per_class"] = 100.0 * (correct[count > 0] / count[count > 0]).mean().item()
    return out


# ---- the evaluator plug-in (methods/evals/evaluator.py) ------------------------------------------------------


def run(method, data, cfg, items: dict) -> dict[str, float]:
    from .embed import embed_images, text_encoder

    img, ok = embed_images(method, data.images, cfg)
    require_images(ok, "classification images")
    classes = class_embeddings(text_encoder(method), method.encoders.tokenizer(), data.classnames, data.templates)
    labels = torch.tensor(data.labels)[ok]
    rank = class_ranks(img[ok], classes, labels)
    out = classification_metrics(img[ok], classes, labels, cfg.mean_per_class, rank)
    items |= {"rank": rank.numpy(), "label": labels.numpy()}
    return out | {"skipped_images": float((~ok).sum())}


def unit(metric: str) -> str:
    return "rank"


def resample(metric: str, items: dict, weights):
    """top-1 / top-5: the weighted share of images whose true class ranks below K; mean_per_class: the mean over
    classes of each class's top-1. class_cos is a property of the text tower, not of test items: None."""
    rank = items["rank"]
    if metric in ("top1", "top5"):
        return percent(weights, rank < (1 if metric == "top1" else 5))
    if metric == "mean_per_class":
        return group_mean(weights, rank < 1, items["label"])
    return None


def _imagenet(cfg, scenes):
    return datasets.image_folder(cfg.path("imagenet_dir"),
                                 templates=datasets.IMAGENET_TEMPLATES[cfg.imagenet_templates])


def _wds(cfg, scenes):
    from .clip_benchmark import classification_set

    return classification_set(cfg.path("wds_classification_dir"))


EVALUATOR = Evaluator("classification", {"scenes": scenesets.classification, "imagenet": _imagenet, "wds": _wds},
                      run, unit, resample, paths={"imagenet": ("imagenet_dir",), "wds": ("wds_classification_dir",)})
