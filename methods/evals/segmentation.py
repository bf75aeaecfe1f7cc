"""Zero-shot semantic segmentation, SCLIP's training-free protocol (Wang et al. 2024), in plain torch.

Dense patch features through the visual projection (Method.image_tokens), cosine with class text embeddings
(templates averaged; a class line "a, b, c" lists synonyms and takes the max over them), bilinear upsampling,
sliding windows (paper: 224 / stride 112 on the short side resized to 336-560; tiny: the benchmark's 64-px
images in one window), softmax at a per-benchmark logit scale. With-background sets: pixels whose top class
probability is below `prob_threshold` become background (label 0), and a class covering less than
`area_threshold` of an image is dropped to background (VOC21). mIoU from a confusion matrix accumulated over
the whole set; pixels labelled `ignore_index` are ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F


@dataclasses.dataclass(frozen=True)
class SegmentationProtocol:
    window: int = 224
    stride: int = 112
    short_side: int = 336
    logit_scale: float = 40.0
    prob_threshold: float = 0.0  # > 0: background (label 0) below it; classes are then labels 1..C
    area_threshold: float = 0.0
    ignore_index: int = 255


def class_text_embeddings(encode_text: Callable, tokenizer, classnames: list[str], templates: list[str]):
    """(S, D) normalised embeddings of every synonym and an (S,) index of the class it belongs to."""
    embs, owner = [], []
    for c, line in enumerate(classnames):
        for name in (s.strip() for s in line.split(",") if s.strip()):
            e = F.normalize(encode_text(tokenizer([t.format(name) for t in templates])), dim=-1).mean(0)
            embs.append(F.normalize(e, dim=-1))
            owner.append(c)
    return torch.stack(embs), torch.tensor(owner)


def dense_logits(image_tokens: Callable, image: torch.Tensor, text: torch.Tensor, owner: torch.Tensor,
                 window: int, stride: int, patch: int) -> torch.Tensor:
    """(C, H, W) cosine similarities of one image (3, H, W) by sliding windows, max over synonyms."""
    _, h, w = image.shape
    n_cls = int(owner.max()) + 1
    acc, count = image.new_zeros(n_cls, h, w), image.new_zeros(1, h, w)
    ys = list(range(0, max(h - window, 0) + 1, stride)) or [0]
    xs = list(range(0, max(w - window, 0) + 1, stride)) or [0]
    if ys[-1] + window < h:
        ys.append(h - window)
    if xs[-1] + window < w:
        xs.append(w - window)
    for y in ys:
        for x in xs:
            crop = image[:, y:y + window, x:x + window]
            ch, cw = crop.shape[1:]
            tokens = image_tokens(crop[None])[0]  # (gh*gw, D) normalised
            sim = (tokens @ text.T).T.reshape(len(text), ch // patch, cw // patch)
            per_class = torch.full((n_cls, *sim.shape[1:]), -2.0, device=sim.device)
            per_class = per_class.scatter_reduce(0, owner[:, None, None].expand_as(sim).to(sim.device), sim, "amax")
            acc[:, y:y + ch, x:x + cw] += F.interpolate(per_class[None], size=(ch, cw), mode="bilinear",
                                                         align_corners=False)[0]
            count[:, y:y + ch, x:x + cw] += 1
    return acc / count


def predict(logits: torch.Tensor, p: SegmentationProtocol) -> torch.Tensor:
    """(H, W) labels from (C, H, W) cosines: argmax; with a probability threshold labels are 1..C, 0 = background."""
    prob = F.softmax(p.logit_scale * logits, dim=0)
    conf, label = prob.max(0)
    if p.prob_threshold <= 0:
        return label
    label = label + 1
    label[conf < p.prob_threshold] = 0
    if p.area_threshold > 0:
        for c in label.unique():
            if c > 0 and (label == c).float().mean() < p.area_threshold:
                label[label == c] = 0
    return label


def confusion(pred: torch.Tensor, gt: torch.Tensor, n_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """(n, n) counts, rows = ground truth, columns = prediction."""
    keep = gt != ignore_index
    idx = gt[keep].long() * n_classes + pred[keep].long()
    return torch.bincount(idx, minlength=n_classes ** 2).reshape(n_classes, n_classes)


def miou(conf: torch.Tensor) -> dict[str, float]:
    """Mean IoU over classes present in the ground truth or the predictions, and pixel accuracy (percent)."""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    valid = union > 0
    return {"miou": 100.0 * (tp[valid] / union[valid]).mean().item(),
            "pixel_acc": 100.0 * (tp.sum() / conf.sum().clamp(min=1)).item()}
