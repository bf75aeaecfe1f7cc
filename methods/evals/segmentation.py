"""Zero-shot semantic segmentation: the evaluator (SCLIP protocol, methods/evals/sclip.py; benchmarks and their
readers, methods/evals/segsets.py).

Each image: short side resized as mmseg (long side at most 2048), sliding windows, logits upsampled to the label
map's size, scored both plain (`miou`) and with correlative self-attention in the last block (`miou_csa`); mIoU
over the confusion matrix accumulated over the set. A corrupt image or label map is skipped and counted. The
per-image confusion matrices are the items a bootstrap resamples."""

from __future__ import annotations

import io

import numpy as np
import torch

from . import scenesets, sclip, segsets
from .embed import device_of
from .evaluator import Evaluator

TAGS = ("", "_csa")  # plain, with CSA


def _dense_transform(encoders):
    from torchvision import transforms as T

    return T.Compose([T.ToTensor(), T.Normalize(encoders.image_mean, encoders.image_std)])


def _open(src):
    from PIL import Image

    return Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)


@torch.no_grad()
def run(method, data: segsets.SegmentationSet, cfg, items: dict) -> dict[str, float]:
    p = data.protocol
    device = device_of(method)
    text, owner = sclip.class_text_embeddings(lambda t: method.encode_text(t.to(device)),
                                              method.encoders.tokenizer(), data.classnames, data.templates)
    n = len(data.classnames)
    confs = {tag: torch.zeros(n, n + 1, dtype=torch.long) for tag in TAGS}  # + the UNDECIDED column
    per_image = {tag: [] for tag in TAGS}
    skipped, tf = 0, _dense_transform(method.encoders)
    for img_src, mask_src in zip(data.images, data.masks):
        try:
            img = _open(img_src).convert("RGB")
            gt = torch.from_numpy(np.array(_open(mask_src))).long()
        except (OSError, ValueError):
            skipped += 1
            continue
        if data.reduce_zero_label:
            gt = segsets.reduce_zero_label(gt)
        x = tf(sclip.mmseg_resize(img, p.short_side)).to(device)
        both = sclip.dense_logits(method.dense_features, x, text, p.window, p.stride,
                                  method.encoders.patch_size)  # (2, S, H, W): plain, CSA
        both = torch.nn.functional.interpolate(both, size=gt.shape, mode="bilinear", align_corners=False)
        for tag, logits in zip(TAGS, both):
            conf = sclip.confusion(sclip.predict(logits, owner, p).cpu(), gt, n, p.ignore_index)
            confs[tag] += conf
            per_image[tag].append(conf.numpy().astype(np.int32))
    out = {f"{k}{tag}": v for tag, conf in confs.items() for k, v in sclip.miou(conf).items()}
    items |= {f"conf{tag}": np.stack(c) if c else np.zeros((0, n, n + 1), np.int32) for tag, c in per_image.items()}
    return out | {"skipped_images": float(skipped)}


def unit(metric: str) -> str:
    return "conf_csa" if metric.endswith("_csa") else "conf"


def resample(metric: str, items: dict, weights):
    """mIoU / pixel accuracy of the weighted sum of the per-image confusion matrices (sclip.miou's rule)."""
    if metric.split("_csa")[0] not in ("miou", "pixel_acc"):
        return None
    arr = items[unit(metric)]
    n = arr.shape[1]
    conf = (weights @ arr.reshape(len(arr), -1)).reshape(len(weights), n, n + 1)
    tp = np.einsum("rii->ri", conf[:, :, :n])
    if metric.startswith("pixel_acc"):
        return 100.0 * tp.sum(axis=1) / np.maximum(conf.sum(axis=(1, 2)), 1)
    union = conf[:, :, :n].sum(axis=1) + conf.sum(axis=2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    return 100.0 * np.nanmean(iou, axis=1)


def _reader(name: str):
    bench = segsets.BENCHMARKS[name]
    return lambda cfg, scenes: segsets.read_benchmark(name, cfg.path(bench.path_key), cfg.path("seg_names_dir"),
                                                      names=cfg.seg_names)


EVALUATOR = Evaluator("segmentation", {"scenes": scenesets.segmentation} | {n: _reader(n) for n in segsets.BENCHMARKS},
                      run, unit, resample, paths={n: (b.path_key,) for n, b in segsets.BENCHMARKS.items()})
