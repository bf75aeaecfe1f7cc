"""Statistics, chance levels and the markdown dataset card of a generated scenes benchmark."""

from __future__ import annotations

import io
import json
from math import comb
from pathlib import Path

import numpy as np
from PIL import Image

from ..stream import read_all
from .probes import PERCEPTION_PATTERNS
from .vocab import CATEGORIES, CATEGORY_PATTERNS, CLASSIFICATION_TEMPLATES, COLOURS, typical_colour


def retrieval_chance(n_images: int, caps_per_image: int, k: int) -> dict[str, float]:
    """R@k of a random ranking: t2i k/N; i2t P(any of the image's captions in the top k of N*c)."""
    m = n_images * caps_per_image
    i2t = 1.0 - comb(m - caps_per_image, k) / comb(m, k)
    return {"i2t": i2t, "t2i": min(1.0, k / n_images)}


def colour_only_top1(categories: tuple[str, ...], colours: tuple[str, ...], p: float) -> float:
    """Top-1 of the best classifier that sees only the dominant object's colour (Bayes; uniform dominant category).

    P(colour c | category k) = p [c is k's typical colour] + (1 - p) / C; the best guess for a colour is any
    category whose typical colour it is, so the accuracy is (1/K) sum over colours of max_k P(c | k)."""
    c = len(colours)
    typical = {typical_colour(k, categories, colours) for k in categories}
    return sum(p * (col in typical) + (1 - p) / c for col in colours) / len(categories)


def random_miou(pixel_freq: np.ndarray) -> float:
    """Expected mIoU of a uniform random per-pixel prediction over len(pixel_freq) classes (present ones only)."""
    c = len(pixel_freq)
    p = pixel_freq[pixel_freq > 0]
    return float(np.mean((p / c) / (p + 1 / c - p / c)))


def statistics(cfg, root: Path) -> dict:
    """Counts and chance levels measured on the generated test split and probe files."""
    n_obj, dominant = [], np.zeros(len(cfg.categories) + 1)
    pixels = np.zeros(len(CATEGORIES) + 1)
    urls = sorted(str(p) for p in (root / "test").glob("*.tar"))
    for s in read_all(urls):
        meta = json.loads(s["json"])
        objs = meta["scene"]["objects"]
        n_obj.append(len(objs))
        dominant[cfg.categories.index(objs[0]["category"])] += 1
        cmap = np.asarray(Image.open(io.BytesIO(s["mask.png"])))
        pixels += np.bincount(cmap.ravel(), minlength=len(pixels))
    comp = json.loads((root / "probes" / "compositional.json").read_text())
    freq = pixels / pixels.sum()
    fg = pixels[1:] / max(pixels[1:].sum(), 1)
    n = len(n_obj)
    return {
        "test_images": n,
        "objects_per_image": {str(k): int(v) for k, v in zip(*np.unique(n_obj, return_counts=True))},
        "dominant_category_counts": {c: int(dominant[i]) for i, c in enumerate(cfg.categories)},
        "background_pixel_fraction": float(freq[0]),
        "compositional_items": {k: len(v) for k, v in comp.items()},
        "perception_pairs": {p: cfg.perception_pairs for p in PERCEPTION_PATTERNS},
        "chance": {
            "retrieval_r1": retrieval_chance(n, 3, 1), "retrieval_r5": retrieval_chance(n, 3, 5),
            "retrieval_r10": retrieval_chance(n, 3, 10),
            "classification_top1": 1 / len(cfg.categories), "classification_top5": 5 / len(cfg.categories),
            "classification_majority": float(dominant.max() / max(n, 1)),
            # the best classifier that sees only the dominant object's colour (benchmark v4's typical colours)
            "classification_colour_only": colour_only_top1(cfg.categories, cfg.colours, cfg.typical_colour_p),
            "segmentation_miou_with_background": random_miou(freq),
            # every pixel predicted background: IoU = background fraction on one of the classes present
            "segmentation_miou_all_background": float(freq[0] / max((pixels > 0).sum(), 1)),
            "segmentation_miou_without_background": random_miou(fg),
            "compositional": 0.5, "perception_pair": 0.25,
        },
    }


def _typical_line(cfg: dict) -> str:
    p, cats, cols = cfg["typical_colour_p"], tuple(cfg["categories"]), tuple(cfg["colours"])
    if not p:
        return "Colours are drawn uniformly for every object, whatever its category."
    return (f"Typical colours: each object takes its category's typical colour with probability {p:g}, else a "
            "uniform draw from the colours above: " + ", ".join(f"{k} {typical_colour(k, cats, cols)}" for k in cats)
            + ".")


def write_card(meta: dict, path: Path) -> None:
    cfg, st = meta["config"], meta["statistics"]
    ch = st["chance"]
    lines = [
        "# Synthetic scenes benchmark (generated; do not edit)",
        "",
        f"Fingerprint `{meta['fingerprint']}`. Generated offline by `python experiments/run.py data scenes`; "
        "the same settings give byte-identical shards (checksums in meta.json).",
        "",
        "## Settings",
        "",
        *(f"- `{k}`: {v if not isinstance(v, list) or len(v) < 6 else f'{len(v)} values'}" for k, v in cfg.items()),
        "",
        "## Classes",
        "",
        f"{len(cfg['categories'])} categories (id = position + 1; 0 = background): "
        + ", ".join(f"{i + 1} {c}" for i, c in enumerate(cfg["categories"])),
        "",
        ("Surface patterns (each category's texture, painted over the object's colour): "
         + ", ".join(f"{c} {CATEGORY_PATTERNS[c]}" for c in cfg["categories"]) + "." if cfg.get("surface_patterns")
         else "Surface patterns: off (objects are flat colour; only shape tells categories apart)."),
        "",
        f"Colours ({len(cfg['colours'])}): {', '.join(cfg['colours'])}. All colours: {', '.join(COLOURS)}.",
        "",
        _typical_line(cfg),
        "",
        f"Classification templates: {' | '.join(CLASSIFICATION_TEMPLATES)}",
        "",
        "Captions per image (DreamLIP layout, sentence lists): a noisy raw alt-text naming the dominant object; "
        "3 short captions (every object with size and colour; the objects by category alone; a relation or the "
        "dominant object on its backdrop); 3 long captions from 3 paraphrase families " + (
            "(every object with its position, the relations to the dominant object, the background)."
            if cfg.get("version", 4) < 5 else
            "(each object bound to the next one down by 'above' / 'below', the dominant object on its backdrop; "
            "no absolute positions, no left / right). The test split comes in groups of four images with one bag "
            "of words and four bindings (docs/benchmark.md)."),
        "",
        "## Statistics (test split)",
        "",
        f"- images: {st['test_images']}; objects per image: {st['objects_per_image']}",
        f"- background pixel fraction: {st['background_pixel_fraction']:.3f}",
        f"- dominant-category counts: {st['dominant_category_counts']}",
        f"- compositional items per type: {st['compositional_items']}",
        f"- perception pairs per pattern: {st['perception_pairs']}",
        "",
        "## Chance levels",
        "",
        "| evaluation | chance |",
        "|---|---|",
        *(f"| retrieval R@{k} i2t / t2i (3 long captions per image) | "
          f"{ch[f'retrieval_r{k}']['i2t'] * 100:.2f} / {ch[f'retrieval_r{k}']['t2i'] * 100:.2f} |" for k in (1, 5, 10)),
        f"| classification top-1 / top-5 (dominant object) | {ch['classification_top1'] * 100:.2f} / "
        f"{ch['classification_top5'] * 100:.2f} (majority class {ch['classification_majority'] * 100:.2f}) |",
        "| classification top-1 from the dominant object's colour alone (the best such classifier) | "
        f"{ch['classification_colour_only'] * 100:.2f} |",
        f"| segmentation mIoU, random, with / without background | {ch['segmentation_miou_with_background'] * 100:.2f}"
        f" / {ch['segmentation_miou_without_background'] * 100:.2f} |",
        f"| segmentation mIoU, every pixel predicted background (with background) | "
        f"{ch['segmentation_miou_all_background'] * 100:.2f} |",
        "| compositional (positive above negative) | 50.00 |",
        "| perception pair (both images pick their caption) | 25.00 |",
        "",
    ]
    path.write_text("\n".join(lines))
