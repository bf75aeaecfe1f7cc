"""Zero-shot semantic segmentation, SCLIP's training-free protocol (Wang et al. 2024), in plain torch.

Dense patch features through the visual projection (Method.dense_features: plain and with SCLIP's correlative
self-attention in the last block, from one pass), cosine with every query's text embedding (templates averaged;
a class line "a, b, c" lists synonyms, each its own query), bilinear upsampling, sliding windows averaged per
query (paper: 224 / stride 112 on the short side resized to 336-560; tiny: the benchmark's 64-px images in one
window).
Prediction as SCLIP's `postprocess_result`: softmax over all queries at a per-benchmark logit scale, max over a
class's synonyms, optionally an area threshold (a class whose predicted area is at most `area_threshold` of the
non-background predicted area is dropped), argmax, and pixels whose top probability is below `prob_threshold`
become class 0 (with-background sets name background as class 0). mIoU from a confusion matrix accumulated
over the whole set; pixels labelled `ignore_index` are ignored.
Degenerate models never score: a pixel whose top class probability is tied between classes gets no decision
(UNDECIDED, counted as a miss of its true class and a hit of none), so a collapsed model whose queries all
score alike gets mIoU 0 rather than the all-background score; non-finite logits are refused (finite.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .finite import require_finite

UNDECIDED = -1  # a pixel whose top probability is shared by two classes: no prediction, a miss


@dataclasses.dataclass(frozen=True)
class SegmentationProtocol:
    window: int = 224
    stride: int = 112
    short_side: int = 336
    logit_scale: float = 40.0
    prob_threshold: float = 0.0  # > 0: pixels whose top class probability is below it become class 0 (background)
    area_threshold: float = 0.0  # > 0: classes 1.. with at most this share of the foreground area are dropped
    ignore_index: int = 255


def mmseg_resize(image, short_side: int, long_side: int = 2048):
    """The test-time resize of SCLIP's mmseg pipeline (Resize(scale=(long_side, short_side), keep_ratio=True)):
    scale factor min(long_side / long edge, short_side / short edge), output sizes int(x * factor + 0.5), and
    cv2's INTER_LINEAR (half-pixel centres, no antialiasing) rounded to uint8. Takes and returns a PIL RGB image;
    equal to cv2 up to its fixed-point arithmetic (at most one grey level)."""
    import numpy as np
    from PIL import Image

    w, h = image.size
    factor = min(long_side / max(w, h), short_side / min(w, h))
    size = (int(h * factor + 0.5), int(w * factor + 0.5))
    if size == (h, w):
        return image
    x = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1)[None]
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    return Image.fromarray(y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())


def class_text_embeddings(encode_text: Callable, tokenizer, classnames: list[str], templates: list[str]):
    """(S, D) normalised embeddings of every synonym (query) and an (S,) index of the class it belongs to."""
    embs, owner = [], []
    for c, line in enumerate(classnames):
        for name in (s.strip() for s in line.split(",") if s.strip()):
            e = F.normalize(encode_text(tokenizer([t.format(name) for t in templates])), dim=-1).mean(0)
            embs.append(F.normalize(e, dim=-1))
            owner.append(c)
    return torch.stack(embs), torch.tensor(owner)


def windows(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis, SCLIP / mmseg style: every stride, the last one flush with the edge."""
    n = max(size - window + stride - 1, 0) // stride + 1
    return [max(min(i * stride + window, size) - window, 0) for i in range(n)]


def dense_logits(image_tokens: Callable, image: torch.Tensor, text: torch.Tensor, window: int, stride: int,
                 patch: int) -> torch.Tensor:
    """(..., S, H, W) cosine of every query with the patch features of one image (3, H, W), by sliding windows:
    each window's (S, h/patch, w/patch) map upsampled bilinearly to the window, overlaps averaged.
    `image_tokens(crop)` gives (..., 1, gh*gw, D) normalised features; leading dims (e.g. plain / CSA variants of
    one forward pass) carry through to the result."""
    _, h, w = image.shape
    acc, count = None, image.new_zeros(1, h, w)
    for y in windows(h, window, stride):
        for x in windows(w, window, stride):
            crop = image[:, y:y + window, x:x + window]
            ch, cw = crop.shape[1:]
            tokens = image_tokens(crop[None])[..., 0, :, :]  # (..., gh*gw, D)
            lead = tokens.shape[:-2]
            sim = (tokens @ text.T).transpose(-1, -2).reshape(1, -1, ch // patch, cw // patch)
            up = F.interpolate(sim, size=(ch, cw), mode="bilinear", align_corners=False)
            if acc is None:
                acc = image.new_zeros(*lead, len(text), h, w)
            acc[..., y:y + ch, x:x + cw] += up.reshape(*lead, len(text), ch, cw)
            count[:, y:y + ch, x:x + cw] += 1
    return acc / count


def class_probabilities(logits: torch.Tensor, owner: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """(C, H, W): softmax over all S queries at `logit_scale`, then the max over each class's synonyms."""
    prob = F.softmax(logit_scale * logits, dim=0)
    out = prob.new_zeros(int(owner.max()) + 1, *prob.shape[1:])
    return out.scatter_reduce(0, owner.to(prob.device)[:, None, None].expand_as(prob), prob, "amax",
                              include_self=False)


def predict(logits: torch.Tensor, owner: torch.Tensor, p: SegmentationProtocol) -> torch.Tensor:
    """(H, W) labels from (S, H, W) query cosines (see the module docstring for the rules)."""
    prob = class_probabilities(require_finite(logits, "segmentation logits"), owner, p.logit_scale)
    if p.area_threshold > 0:
        area = torch.bincount(prob.argmax(0).flatten(), minlength=len(prob))[1:].to(prob.dtype)
        keep = (area > p.area_threshold * area.sum()).to(prob.dtype)
        prob = torch.cat([prob[:1], prob[1:] * keep[:, None, None]])
    conf, label = prob.max(0)
    if p.prob_threshold > 0:
        label[conf < p.prob_threshold] = 0
    if len(prob) > 1:
        top2 = prob.topk(2, dim=0).values
        label[top2[0] == top2[1]] = UNDECIDED
    return label


def confusion(pred: torch.Tensor, gt: torch.Tensor, n_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """(n, n + 1) counts, rows = ground truth, columns = prediction; the last column counts UNDECIDED pixels."""
    keep = gt != ignore_index
    pred = torch.where(pred == UNDECIDED, n_classes, pred)
    idx = gt[keep].long() * (n_classes + 1) + pred[keep].long()
    return torch.bincount(idx, minlength=n_classes * (n_classes + 1)).reshape(n_classes, n_classes + 1)


def miou(conf: torch.Tensor) -> dict[str, float]:
    """Mean IoU over classes present in the ground truth or the predictions, and pixel accuracy (percent)."""
    conf = conf.double()  # (n, n) or (n, n + 1) with the UNDECIDED column: a miss for the row's class
    n = conf.shape[0]
    tp = conf[:, :n].diag()
    union = conf[:, :n].sum(0) + conf.sum(1) - tp
    valid = union > 0
    return {"miou": 100.0 * (tp[valid] / union[valid]).mean().item(),
            "pixel_acc": 100.0 * (tp.sum() / conf.sum().clamp(min=1)).item()}
