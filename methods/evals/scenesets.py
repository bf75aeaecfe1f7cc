"""The synthetic benchmark's evaluation sets, one reader per evaluator task (the `scenes` dataset of each task).

Each reader takes (cfg, root): the run's EvalConfig and the generated benchmark's folder, and returns the data
type its evaluator scores (methods/evals/<task>.py). The evaluators own these readers, as they own the readers of
real data (datasets.py, probes.py, segsets.py): the data layer (methods/data/scenes) only generates the benchmark
and never imports an evaluator."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from ..data.scenes import preset
from ..data.scenes.vocab import BACKGROUNDS, CATEGORIES, CLASSIFICATION_TEMPLATES, TEXTURES
from ..data.stream import read_all
from ..data.text import join_sentences
from .datasets import ImageTextSet, LabelledImages, require_path
from .probes import CaptionPairs, ImagePairs
from .sclip import SegmentationProtocol
from .segsets import SegmentationSet

_MISSING = "(run `run.py data scenes`)"


def read_split(root: Path, split: str) -> list[dict]:
    """Raw samples (bytes members + parsed json) of one split of the synthetic benchmark, in key order."""
    folder = require_path(Path(root) / split, f"scenes split {split!r}", f"<scenes>/<split>/<split>-NNNNNN.tar {_MISSING}")
    return [s | {"meta": json.loads(s["json"])} for s in read_all(sorted(str(p) for p in folder.glob("*.tar")))]


def retrieval(cfg, root: Path, split: str = "test"):
    """Image <-> long-caption retrieval: each image with its three long captions."""
    images, captions, owner = [], [], []
    for i, s in enumerate(read_split(root, split)):
        images.append(s["jpg"])
        for cap in s["meta"]["long_captions"]:
            captions.append(join_sentences(cap))
            owner.append(i)
    return ImageTextSet(images, captions, owner)


def classification(cfg, root: Path, split: str = "test"):
    """The dominant object's category, with the benchmark's class names and templates."""
    samples = read_split(root, split)
    labels = [CATEGORIES.index(s["meta"]["scene"]["objects"][0]["category"]) for s in samples]
    return LabelledImages([s["jpg"] for s in samples], labels, list(CATEGORIES), list(CLASSIFICATION_TEMPLATES))


def linear(cfg, root: Path):
    """(train, test) labelled images: the first cfg.linear_train_size train samples and the test split."""
    train = classification(cfg, root, "train")
    n = min(cfg.linear_train_size, len(train.images))
    return LabelledImages(train.images[:n], train.labels[:n], train.classnames, train.templates), \
        classification(cfg, root)


def segmentation(cfg, root: Path):
    """The test split with its exact class maps: label 0 = background, named by synonyms as SCLIP's VOC21 list does
    (here the benchmark's backdrops), 1..16 = categories; logit scale 40; the whole image in one window."""
    samples = read_split(root, "test")
    size = Image.open(io.BytesIO(samples[0]["jpg"])).size[0]
    background = ", ".join(["background"] + [f"{c} background" for c in BACKGROUNDS] +
                           [f"{t} background" for t in TEXTURES])
    protocol = SegmentationProtocol(window=size, stride=size // 2, short_side=size, logit_scale=40.0)
    return SegmentationSet([s["jpg"] for s in samples], [s["mask.png"] for s in samples],
                           [background] + list(CATEGORIES), list(CLASSIFICATION_TEMPLATES), protocol)


def compositional(cfg, root: Path):
    """The 7 SugarCrepe-style hard-negative sets over the test split."""
    spec = json.loads(require_path(Path(root) / "probes" / "compositional.json", "scenes compositional probes",
                               f"<scenes>/probes/compositional.json {_MISSING}").read_text())
    jpg = {s["__key__"]: s["jpg"] for s in read_split(root, "test")}
    items = [(kind, it) for kind, rows in spec.items() for it in rows]
    return CaptionPairs([jpg[it["key"]] for _, it in items], [it["positive"] for _, it in items],
                        [it["negative"] for _, it in items], [kind for kind, _ in items])


def perception(cfg, root: Path):
    """The MMVP-style pairs (probes/perception-*.tar; members <pattern>-<pair>-{a,b}.jpg/json)."""
    folder = require_path(Path(root) / "probes", "scenes perception probes", "<scenes>/probes/perception-*.tar")
    sides: dict[tuple, dict] = {}
    for s in read_all(sorted(str(p) for p in folder.glob("perception-*.tar"))):
        meta = json.loads(s["json"])
        sides[(meta["pattern"], meta["pair"], meta["side"])] = {"jpg": s["jpg"], "caption": meta["caption"]}
    keys = sorted({k[:2] for k in sides})
    a, b = [sides[k + ("a",)] for k in keys], [sides[k + ("b",)] for k in keys]
    return ImagePairs([x["jpg"] for x in a], [x["jpg"] for x in b], [x["caption"] for x in a],
                      [x["caption"] for x in b], [k[0] for k in keys])


LONG_CAPTIONS = 3  # long captions per test image (methods/data/scenes/captions.py: three paraphrase families)


def chance_levels(scenes: str) -> dict[str, float]:
    """What guessing scores on the evaluations of the benchmark preset `scenes`, by metric key or task prefix:
    retrieval R@k over its n test images (T2I: the one right image in the top k, k / n; I2T: one of an image's
    captions among the top k of its n x 3, exactly), zero-shot top-k over its categories, a hard negative (50) and
    an MMVP-style pair (both images must pick their own caption: 25)."""
    from math import comb

    n, per = preset(scenes).n_test, LONG_CAPTIONS
    out = {}
    for k in (1, 5, 10):
        out[f"retrieval/scenes/t2i_r{k}"] = 100 * k / n
        out[f"retrieval/scenes/i2t_r{k}"] = 100 * (1 - comb(n * per - per, k) / comb(n * per, k))
    out["classification/scenes/top1"] = 100 / len(CATEGORIES)
    out["classification/scenes/top5"] = 100 * min(5, len(CATEGORIES)) / len(CATEGORIES)
    out["compositional/scenes/"] = 50.0
    out["perception/scenes/"] = 25.0
    return out


def chance_of(levels: dict[str, float], metric: str) -> float | None:
    """A metric's chance level from `chance_levels` (exact key, else its task prefix); None where none is known."""
    return levels.get(metric, next((v for k, v in levels.items() if k.endswith("/") and metric.startswith(k)), None))
