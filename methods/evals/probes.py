"""Compositional and perception probes: scoring rules on embeddings, and their readers.

- Compositional (SugarCrepe; the benchmark's 7 hard-negative sets): one image, a positive and a negative caption;
  correct when sim(image, positive) > sim(image, negative). Accuracy per type and the mean over types.
- SVO probes: one sentence, a positive and a negative image (differing in subject, verb or object). Protocols
  (SVO_PROTOCOLS): "official" = the SVO-Probes colab (google-deepmind/svo_probes probing_image_text_models.ipynb):
  rows with exactly one negative flag, every (sentence, image) judged match / no-match, positive accuracy over the
  distinct (sentence, positive image) and negative accuracy over the distinct (sentence, negative image) decisions,
  averaged, per type and over all rows ("mean"); the colab scores an image-text-matching head's 0/1, a contrastive
  model's decision here is the image of its row the sentence prefers. "ranking" = the suite's earlier rule: the
  first true flag is the type, correct when sim(sentence, positive) > sim(sentence, negative); mean over types.
- Perception (MMVP-VLM; the benchmark's MMVP-style pairs): two images a, b with statements a, b. Protocols
  (MMVP_PROTOCOLS): "official" = MMVP's scripts/evaluate_vlm.py: each statement, prefixed "a photo of ", picks the
  image it prefers (softmax over the two > 0.5); a pair counts when both pick their own. "pairs" = the suite's
  rule (the benchmark's MMVP-style sets): image a prefers statement a AND image b prefers statement b, bare
  statements. Accuracy per pattern and the mean over patterns.
Scoring uses only normalised global embeddings, so every method is scored by the same code.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .datasets import IMAGE_EXTS, require_path
from .evaluator import require_images  # noqa: F401 (the probes runners call it from here)
from .finite import require_finite


@dataclasses.dataclass
class CaptionPairs:
    images: Sequence
    positives: list[str]
    negatives: list[str]
    types: list[str]


MMVP_PROTOCOLS = ("official", "pairs")
SVO_PROTOCOLS = ("official", "ranking")


@dataclasses.dataclass
class ImagePairs:
    images_a: Sequence
    images_b: Sequence
    captions_a: list[str]
    captions_b: list[str]
    patterns: list[str]
    protocol: str = "pairs"  # MMVP_PROTOCOLS
    layout: str = ""  # the file layout the reader found (recorded with the run)


@dataclasses.dataclass
class ImageChoices:
    sentences: list[str]
    positives: Sequence
    negatives: Sequence
    types: list[str]
    protocol: str = "ranking"  # SVO_PROTOCOLS
    positive_ids: list[str] = dataclasses.field(default_factory=list)
    negative_ids: list[str] = dataclasses.field(default_factory=list)
    layout: str = ""


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


def dropped_groups(all_groups: list[str], kept: list[str], what: str) -> int:
    """Warn, naming them, about the groups (types, patterns) that lost every item to missing images; their count
    (logged with the run) is what the mean over groups silently left out otherwise."""
    lost = sorted(set(all_groups) - set(kept))
    if lost:
        warnings.warn(f"{len(lost)} {what}(s) lost every item to missing images and are left out of the mean: "
                      f"{', '.join(lost)}", stacklevel=2)
    return len(lost)


def preference_correct(query: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """(N,) bool: row i of `query` scores its positive strictly above its negative (a tie is wrong)."""
    _finite(query, pos, neg)
    return (query * pos).sum(-1) > (query * neg).sum(-1)


def pair_correct(img_a, img_b, cap_a, cap_b) -> torch.Tensor:
    """(N,) bool: pair i counts if a picks caption a and b picks caption b (MMVP-VLM rule)."""
    _finite(img_a, img_b, cap_a, cap_b)
    return preference_correct(img_a, cap_a, cap_b) & preference_correct(img_b, cap_b, cap_a)


def statement_choice_correct(img_a, img_b, cap_a, cap_b) -> torch.Tensor:
    """(N,) bool, MMVP's evaluate_vlm.py: statement a picks image a when it scores a strictly above b (the softmax
    over the two images above 0.5), statement b picks image b unless it scores a strictly above b; a pair counts
    when both pick their own image."""
    _finite(img_a, img_b, cap_a, cap_b)
    return ((cap_a * img_a).sum(-1) > (cap_a * img_b).sum(-1)) & ~((cap_b * img_a).sum(-1) > (cap_b * img_b).sum(-1))


def svo_items(txt, pos, neg, sentences: list[str], positive_ids: list[str], negative_ids: list[str],
              types: list[str]) -> dict[str, np.ndarray]:
    """Per row of the official SVO-Probes scoring: the sentence's match decision on its positive and on its
    negative image (a contrastive model judges a match the image of the row it prefers: strictly), the type, and
    integer keys of the (sentence, positive image) and (sentence, negative image) pairs the colab de-duplicates."""
    _finite(txt, pos, neg)
    s_pos, s_neg = (txt * pos).sum(-1), (txt * neg).sum(-1)
    keys: dict[tuple, int] = {}
    pos_key = [keys.setdefault(("pos", s, i), len(keys)) for s, i in zip(sentences, positive_ids)]
    neg_key = [keys.setdefault(("neg", s, i), len(keys)) for s, i in zip(sentences, negative_ids)]
    return {"pos_match": (s_pos > s_neg).numpy(), "neg_match": (s_neg > s_pos).numpy(), "group": np.array(types),
            "pos_key": np.array(pos_key), "neg_key": np.array(neg_key)}


def svo_accuracy(items: dict[str, np.ndarray]) -> dict[str, float]:
    """The colab's `accuracy` per type and over all rows ("mean"), in percent: the distinct (sentence, image,
    decision) rows of each side (drop_duplicates), positive accuracy = share judged match, negative accuracy =
    share judged no-match, their average."""
    def acc(sel) -> float:
        pos = {(k, m) for k, m in zip(items["pos_key"][sel], items["pos_match"][sel])}
        neg = {(k, m) for k, m in zip(items["neg_key"][sel], items["neg_match"][sel])}
        return 50.0 * (np.mean([m for _, m in pos]) + np.mean([not m for _, m in neg]))
    groups = items["group"]
    out = {str(g): acc(groups == g) for g in sorted(set(groups.tolist()))}
    return out | {"mean": acc(np.ones(len(groups), dtype=bool))}


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


MMVP_IMAGE_FOLDERS = ("MLLM_VLM Images", "MMVP_VLM_Images")  # the Hugging Face download's; the GitHub README's
_MMVP_LAYOUT = ("<root>/Questions.csv (columns 'Question ID', 'Type', 'Statement'; ids 2k-1 and 2k form a pair) "
                "and <root>/MLLM_VLM Images/<Type>/<Question ID>.jpg (Hugging Face MMVP/MMVP_VLM; the GitHub README's "
                "MMVP_VLM_Images/ also read)")
MMVP_PROMPT = "a photo of "  # MMVP's scripts/evaluate_vlm.py: text = 'a photo of ' + statement


def _csv_rows(path: Path, columns: tuple[str, ...], what: str, layout: str) -> list[dict]:
    """The rows of a CSV file that must have `columns`; a file that is not such a CSV is one ValueError line."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: not {what} (no column {', '.join(map(repr, missing))}); expected {layout}")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not {what} ({type(e).__name__}); expected {layout}") from None


def mmvp_vlm(root: str | Path, protocol: str = "official") -> ImagePairs:
    """MMVP-VLM (Tong et al. 2024) from a local copy: 9 patterns x 15 pairs of (image, statement). Both images of a
    pair are read from the first row's Type folder, as the official script reads them."""
    if protocol not in MMVP_PROTOCOLS:
        raise ValueError(f"unknown MMVP protocol {protocol!r}; valid choices: {', '.join(MMVP_PROTOCOLS)}")
    root = require_path(root, "MMVP-VLM folder", _MMVP_LAYOUT)
    csv_path = require_path(root / "Questions.csv", "MMVP-VLM Questions.csv", _MMVP_LAYOUT)
    rows = _csv_rows(csv_path, ("Question ID", "Type", "Statement"), "MMVP-VLM's Questions.csv", _MMVP_LAYOUT)
    try:
        rows = sorted(rows, key=lambda r: int(r["Question ID"]))
    except ValueError:
        raise ValueError(f"{csv_path}: a 'Question ID' is not an integer; expected {_MMVP_LAYOUT}") from None
    if len(rows) % 2:
        raise ValueError(f"MMVP-VLM Questions.csv has an odd number of rows ({len(rows)}); expected pairs")
    folder = next((root / f for f in MMVP_IMAGE_FOLDERS if (root / f).is_dir()), None)
    if folder is None:
        raise FileNotFoundError(f"MMVP-VLM images not found in {str(root)!r} (no folder "
                                f"{' or '.join(map(repr, MMVP_IMAGE_FOLDERS))}); expected layout: {_MMVP_LAYOUT}")

    def image(kind: str, qid: str) -> str:
        hits = [folder / kind / f"{qid}{ext}" for ext in IMAGE_EXTS if (folder / kind / f"{qid}{ext}").exists()]
        return str(hits[0] if hits else folder / kind / f"{qid}.jpg")  # a missing file counts as corrupt

    a, b = rows[0::2], rows[1::2]
    prompt = MMVP_PROMPT if protocol == "official" else ""
    return ImagePairs([image(r["Type"], r["Question ID"]) for r in a],
                      [image(x["Type"], r["Question ID"]) for x, r in zip(a, b)],
                      [prompt + r["Statement"] for r in a], [prompt + r["Statement"] for r in b],
                      [r["Type"] for r in a], protocol, f"MMVP-VLM Questions.csv + {folder.name}/<Type>/")


_SVO_LAYOUT = ("<root>/svo_probes.csv (google-deepmind/svo_probes: sentence, pos_image_id, neg_image_id, subj_neg, "
               "verb_neg, obj_neg, pos_url, neg_url) and the downloaded images in <root>/images/, named "
               "<image id>.<ext> or by their URL's file name")
_SVO_TYPES = ("subj", "verb", "obj")


def _svo_image(images: Path, image_id: str, url: str, names: dict[str, str]) -> str:
    """The downloaded image of an id: <id>.<ext>, else the URL's file name; a missing file counts as corrupt."""
    for ext in IMAGE_EXTS:
        if f"{image_id}{ext}" in names:
            return str(images / f"{image_id}{ext}")
    url_name = url.rsplit("/", 1)[-1].split("?")[0] if url else ""
    return str(images / (url_name if url_name in names else f"{image_id}.jpg"))


def svo_probes(root: str | Path, protocol: str = "official") -> ImageChoices:
    """SVO-Probes (Hendricks & Nematzadeh 2021) from a local copy of svo_probes.csv and its downloaded images. The
    type is which of subject / verb / object the negative image changes: "official" keeps the rows with exactly one
    flag (the colab), "ranking" takes the first true flag."""
    if protocol not in SVO_PROTOCOLS:
        raise ValueError(f"unknown SVO protocol {protocol!r}; valid choices: {', '.join(SVO_PROTOCOLS)}")
    root = require_path(root, "SVO-Probes folder", _SVO_LAYOUT)
    csv_path = require_path(root / "svo_probes.csv", "svo_probes.csv", _SVO_LAYOUT)
    rows = _csv_rows(csv_path, ("sentence", "pos_image_id", "neg_image_id", "subj_neg", "verb_neg", "obj_neg"),
                     "SVO-Probes' svo_probes.csv", _SVO_LAYOUT)
    images = root / "images"
    names = {p.name for p in images.iterdir()} if images.is_dir() else set()
    out = ImageChoices([], [], [], [], protocol)
    by_id = by_url = 0
    for row in rows:
        flags = [k for k in _SVO_TYPES if str(row.get(f"{k}_neg", "")).strip().lower() == "true"]
        if not flags or (protocol == "official" and len(flags) != 1):
            continue
        pos = _svo_image(images, row["pos_image_id"], row.get("pos_url", ""), names)
        neg = _svo_image(images, row["neg_image_id"], row.get("neg_url", ""), names)
        for path, image_id in ((pos, row["pos_image_id"]), (neg, row["neg_image_id"])):
            by_id += Path(path).stem == image_id and Path(path).name in names
            by_url += Path(path).stem != image_id
        out.sentences.append(row["sentence"])
        out.positives.append(pos)
        out.negatives.append(neg)
        out.positive_ids.append(row["pos_image_id"])
        out.negative_ids.append(row["neg_image_id"])
        out.types.append(flags[0])
    out.layout = f"svo_probes.csv + images/ ({by_id} named by id, {by_url} by URL file name)"
    return out
