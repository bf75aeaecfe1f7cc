"""Compositional and perception probes: scoring rules on embeddings, and their readers.

- Compositional (SugarCrepe; the benchmark's 7 hard-negative sets): one image, a positive and a negative caption;
  correct when sim(image, positive) > sim(image, negative). Accuracy per type and the mean over types.
- SVO probes: one sentence, a positive and a negative image (differing in subject, verb or object); correct
  when sim(sentence, positive image) > sim(sentence, negative image). Accuracy per negative type and mean.
- Perception (MMVP-VLM; the benchmark's MMVP-style pairs): two images a, b with captions a, b; a pair counts only
  if image a prefers caption a AND image b prefers caption b. Accuracy per pattern and the mean over patterns.
Scoring uses only normalised global embeddings, so every method is scored by the same code.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from .datasets import IMAGE_EXTS, require_path
from .finite import require_finite


@dataclasses.dataclass
class CaptionPairs:
    images: Sequence
    positives: list[str]
    negatives: list[str]
    types: list[str]


@dataclasses.dataclass
class ImagePairs:
    images_a: Sequence
    images_b: Sequence
    captions_a: list[str]
    captions_b: list[str]
    patterns: list[str]


@dataclasses.dataclass
class ImageChoices:
    sentences: list[str]
    positives: Sequence
    negatives: Sequence
    types: list[str]


def _finite(*embs: torch.Tensor) -> None:
    for e in embs:
        require_finite(e, "probe embeddings")


def per_group(correct: torch.Tensor, groups: list[str]) -> dict[str, float]:
    out = {}
    for g in sorted(set(groups)):
        idx = torch.tensor([i for i, x in enumerate(groups) if x == g])
        out[g] = 100.0 * correct[idx].float().mean().item()
    out["mean"] = sum(out.values()) / len(out)
    return out


def preference_correct(query: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """(N,) bool: row i of `query` scores its positive strictly above its negative (a tie is wrong)."""
    _finite(query, pos, neg)
    return (query * pos).sum(-1) > (query * neg).sum(-1)


def pair_correct(img_a, img_b, cap_a, cap_b) -> torch.Tensor:
    """(N,) bool: pair i counts if a picks caption a and b picks caption b (MMVP-VLM rule)."""
    _finite(img_a, img_b, cap_a, cap_b)
    return preference_correct(img_a, cap_a, cap_b) & preference_correct(img_b, cap_b, cap_a)


def caption_pair_accuracy(img: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, types: list[str]):
    """img, pos, neg: (N, D) normalised; row i of each belongs to item i. Percent correct per type and mean."""
    return per_group(preference_correct(img, pos, neg), types)


def image_choice_accuracy(txt: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, types: list[str]):
    """txt, pos, neg: (N, D) normalised (sentence, its positive image, its negative image): percent correct."""
    return per_group(preference_correct(txt, pos, neg), types)


def image_pair_accuracy(img_a, img_b, cap_a, cap_b, patterns: list[str]) -> dict[str, float]:
    """(N, D) normalised each; pair i counts if a picks caption a and b picks caption b (MMVP-VLM rule)."""
    return per_group(pair_correct(img_a, img_b, cap_a, cap_b), patterns)


# ---- readers -----------------------------------------------------------------------------------------------


SUGARCREPE_TYPES = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
_SUGARCREPE_LAYOUT = ("<dir>/{add_att,add_obj,replace_att,replace_obj,replace_rel,swap_att,swap_obj}.json, each "
                      "{id: {filename, caption, negative_caption}}, images in the COCO val2017 folder")


def sugarcrepe(json_dir: str | Path, images_dir: str | Path) -> CaptionPairs:
    """SugarCrepe's 7 json files (Hsieh et al. 2023) over COCO val2017 images, from local paths."""
    json_dir = require_path(json_dir, "SugarCrepe json folder", _SUGARCREPE_LAYOUT)
    images_dir = require_path(images_dir, "COCO val2017 images folder", _SUGARCREPE_LAYOUT)
    out = CaptionPairs([], [], [], [])
    for kind in SUGARCREPE_TYPES:
        data = json.loads(require_path(json_dir / f"{kind}.json", f"SugarCrepe {kind}.json", _SUGARCREPE_LAYOUT)
                          .read_text())
        for item in data.values():
            out.images.append(str(images_dir / item["filename"]))
            out.positives.append(item["caption"])
            out.negatives.append(item["negative_caption"])
            out.types.append(kind)
    return out


_MMVP_LAYOUT = ("<root>/Questions.csv (columns 'Question ID', 'Type', 'Statement'; ids 2k-1 and 2k form a pair) "
                "and <root>/MMVP_VLM_Images/<Type>/<Question ID>.jpg")


def mmvp_vlm(root: str | Path) -> ImagePairs:
    """MMVP-VLM (Tong et al. 2024) from a local copy: 9 patterns x 15 pairs of (image, statement)."""
    root = require_path(root, "MMVP-VLM folder", _MMVP_LAYOUT)
    with open(require_path(root / "Questions.csv", "MMVP-VLM Questions.csv", _MMVP_LAYOUT), newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["Question ID"]))
    if len(rows) % 2:
        raise ValueError(f"MMVP-VLM Questions.csv has an odd number of rows ({len(rows)}); expected pairs")

    def image(r):
        folder = root / "MMVP_VLM_Images" / r["Type"]
        hits = [folder / f"{r['Question ID']}{ext}" for ext in IMAGE_EXTS if (folder / f"{r['Question ID']}{ext}")
                .exists()]
        return str(hits[0] if hits else folder / f"{r['Question ID']}.jpg")  # a missing file counts as corrupt

    a, b = rows[0::2], rows[1::2]
    return ImagePairs([image(r) for r in a], [image(r) for r in b], [r["Statement"] for r in a],
                      [r["Statement"] for r in b], [r["Type"] for r in a])


_SVO_LAYOUT = ("<root>/svo_probes.csv (columns sentence, pos_image_id, neg_image_id, subj_neg, verb_neg, obj_neg) "
               "and <root>/images/<image id>.jpg")


def svo_probes(root: str | Path) -> ImageChoices:
    """SVO-Probes (Hendricks & Nematzadeh 2021) from a local copy; the type is which of subject / verb / object
    the negative image changes. A missing image file counts as corrupt (skipped and counted)."""
    root = require_path(root, "SVO-Probes folder", _SVO_LAYOUT)
    out = ImageChoices([], [], [], [])
    with open(require_path(root / "svo_probes.csv", "svo_probes.csv", _SVO_LAYOUT), newline="") as f:
        for row in csv.DictReader(f):
            kind = next((k for k in ("subj", "verb", "obj") if str(row.get(f"{k}_neg", "")).lower() == "true"),
                        None)
            if kind is None:
                continue
            out.sentences.append(row["sentence"])
            out.positives.append(str(root / "images" / f"{row['pos_image_id']}.jpg"))
            out.negatives.append(str(root / "images" / f"{row['neg_image_id']}.jpg"))
            out.types.append(kind)
    return out
