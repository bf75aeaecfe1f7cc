"""Compositional understanding (SugarCrepe, SVO-Probes; the benchmark's 7 hard-negative sets): the evaluator.

SugarCrepe-style items: one image, a positive and a negative caption; SVO: one sentence, a positive and a negative
image. Scoring rules and readers: methods/evals/probes.py. Metrics: accuracy per type and their mean."""

from __future__ import annotations

import numpy as np
import torch

from . import probes, scenesets
from .embed import embed_images, embed_texts
from .evaluator import Evaluator, per_group_resample


def _score(correct: torch.Tensor, types: list[str], all_types: list[str], items: dict, skipped) -> dict[str, float]:
    items |= {"correct": correct.numpy(), "group": np.array(types)}
    dropped = probes.dropped_groups(all_types, types, "type")
    return probes.per_group(correct, types) | {"skipped_images": float(skipped)} | (
        {"dropped_groups": float(dropped)} if dropped else {})


def run(method, data, cfg, items: dict) -> dict[str, float]:
    if isinstance(data, probes.ImageChoices):  # SVO: one sentence, two images
        (pos, ok_p), (neg, ok_n) = embed_images(method, data.positives, cfg), embed_images(method, data.negatives, cfg)
        ok = ok_p & ok_n
        keep = probes.require_images(ok, "SVO-Probes rows")
        txt = embed_texts(method, [data.sentences[i] for i in keep], cfg.batch_size)
        types, skipped = [data.types[i] for i in keep], (~ok_p).sum() + (~ok_n).sum()
        if data.protocol == "ranking":
            return _score(probes.preference_correct(txt, pos[ok], neg[ok]), types, data.types, items, skipped)
        found = probes.svo_items(txt, pos[ok], neg[ok], [data.sentences[i] for i in keep],
                                 [data.positive_ids[i] for i in keep], [data.negative_ids[i] for i in keep], types)
        items |= found
        dropped = probes.dropped_groups(data.types, types, "type")
        return probes.svo_accuracy(found) | {"skipped_images": float(skipped)} | (
            {"dropped_groups": float(dropped)} if dropped else {})
    unique = {item: i for i, item in enumerate(dict.fromkeys(data.images))}  # probe sets reuse their images
    img_u, ok_u = embed_images(method, list(unique), cfg)
    index = torch.tensor([unique[item] for item in data.images])
    img, ok = img_u[index], ok_u[index]
    keep = probes.require_images(ok, "caption pairs")
    pos = embed_texts(method, [data.positives[i] for i in keep], cfg.batch_size)
    neg = embed_texts(method, [data.negatives[i] for i in keep], cfg.batch_size)
    return _score(probes.preference_correct(img[ok], pos, neg), [data.types[i] for i in keep], data.types, items,
                  (~ok).sum())


def unit(metric: str) -> str:
    return "correct"


def resample(metric: str, items: dict, weights):
    """The probes' per-group rule; None for the official SVO scoring, whose de-duplication over (sentence, image,
    decision) is no per-item mean (its intervals come from seeds alone)."""
    if "pos_key" in items:
        return None
    return per_group_resample(metric, items, weights)


def _sugarcrepe(cfg, scenes):
    return probes.sugarcrepe(cfg.path("sugarcrepe_dir"), cfg.path("coco_images"))


def _svo(cfg, scenes):
    return probes.svo_probes(cfg.path("svo_dir"), cfg.svo_protocol)


EVALUATOR = Evaluator("compositional", {"scenes": scenesets.compositional, "sugarcrepe": _sugarcrepe, "svo": _svo},
                      run, unit, resample,
                      paths={"sugarcrepe": ("sugarcrepe_dir", "coco_images"), "svo": ("svo_dir",)})
