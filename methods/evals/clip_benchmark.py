"""CLIP_benchmark's webdataset evaluation sets (the `wds_*` folders of its Hugging Face collection), read from a
local folder, and results written in its JSON layout and metric names.

A set folder holds `<split>/nshards.txt` and `<split>/0.tar ... <n-1>.tar`, and `dataset_type.txt` ("retrieval";
absent or anything else: classification). Classification samples carry an image (webp, png, jpg or jpeg) and
`cls` (the class index); the folder gives `classnames.txt` (one per line) and
`zeroshot_classification_templates.txt` (one per line, the class as `{c}`). Retrieval samples carry an image
and `txt` (its captions, one per line). The suite scores them with its own evaluators: `classification/wds`
(eval.paths.wds_classification_dir) and `retrieval/wds` (eval.paths.wds_retrieval_dir).
"""

from __future__ import annotations

import itertools
import tarfile
from pathlib import Path

from ..data.stream import read_all
from .datasets import ImageTextSet, LabelledImages, require_path

IMAGE_MEMBERS = ("webp", "png", "jpg", "jpeg")
_LAYOUT = ("a CLIP_benchmark wds folder: <dir>/test/nshards.txt, <dir>/test/0.tar..., classnames.txt and "
           "zeroshot_classification_templates.txt (classification) or dataset_type.txt = retrieval")


def _shards(root: Path, split: str) -> list[str]:
    nshards = require_path(root / split / "nshards.txt", "CLIP_benchmark nshards.txt", _LAYOUT)
    try:
        n = int(nshards.read_text(encoding="utf-8", errors="replace").strip()[:20])
    except ValueError:
        raise ValueError(f"{nshards} does not hold a shard count") from None
    if n < 1:
        raise FileNotFoundError(f"{root / split}: nshards.txt says {n} shards")
    # the first missing names, found lazily: no list of n names is built before they are known to exist (n may
    # be 1e9)
    missing = list(itertools.islice((f"{i}.tar" for i in range(n) if not (root / split / f"{i}.tar").is_file()), 5))
    if missing:
        raise FileNotFoundError(f"{root / split}: nshards.txt says {n} shards, missing {', '.join(missing)}")
    return [str(root / split / f"{i}.tar") for i in range(n)]


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in require_path(path, path.name, _LAYOUT).read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _image(sample: dict):
    return next((sample[k] for k in IMAGE_MEMBERS if k in sample), None)


def is_retrieval(root: str | Path) -> bool:
    kind = Path(root) / "dataset_type.txt"
    return kind.is_file() and kind.read_text().strip().lower() == "retrieval"


def _samples(root: Path, split: str):
    """The set's samples, shard by shard; a damaged or truncated tar is one line naming it (not a part read)."""
    for shard in _shards(root, split):
        n = 0
        try:
            for s in read_all([shard]):
                n += 1
                yield s
        except (tarfile.TarError, OSError, EOFError) as exn:
            reason = str(exn)[:80] or type(exn).__name__
            raise ValueError(f"{shard}: damaged or truncated tar after {n} samples ({reason}); re-download the "
                             "set") from None


def classification_set(root: str | Path, split: str = "test") -> LabelledImages:
    """A CLIP_benchmark classification set: images, `cls` labels, its class names and templates."""
    root = require_path(root, "CLIP_benchmark classification folder", _LAYOUT)
    if is_retrieval(root):
        raise ValueError(f"{root} is a retrieval set (dataset_type.txt); use retrieval/wds")
    classnames = _lines(root / "classnames.txt")
    templates = [t.replace("{c}", "{}") for t in _lines(root / "zeroshot_classification_templates.txt")]
    for t in templates:  # each must take exactly the class name
        try:
            t.format("x")
        except (IndexError, KeyError, ValueError):
            raise ValueError(f"{root / 'zeroshot_classification_templates.txt'}: template {t[:80]!r} is not "
                             "'{c}'-formatted text") from None
    if not classnames or not templates:
        raise ValueError(f"{root}: classnames.txt and zeroshot_classification_templates.txt need a line each")
    images, labels = [], []
    for s in _samples(root, split):
        if "cls" in s:  # a sample without a label cannot be scored; one without an image is a counted skip
            raw = s["cls"].decode("utf-8", "replace").strip()
            if not raw.lstrip("-").isdigit():
                raise ValueError(f"{root}: sample {s.get('__key__')} has class {raw[:40]!r}, not a class index")
            images.append(_image(s) or b"")
            labels.append(int(raw))
    if not images:
        raise ValueError(f"{root}: no labelled sample (`cls`) in its {split} shards")
    bad = [y for y in labels if not 0 <= y < len(classnames)]
    if bad:
        raise ValueError(f"{root}: label {bad[0]} outside the {len(classnames)} classes of classnames.txt")
    return LabelledImages(images, labels, classnames, templates)


def retrieval_set(root: str | Path, split: str = "test") -> ImageTextSet:
    """A CLIP_benchmark retrieval set: images and their captions (`txt`, one per line)."""
    root = require_path(root, "CLIP_benchmark retrieval folder", _LAYOUT)
    images, captions, owner = [], [], []
    for s in _samples(root, split):
        lines = [c.strip() for c in s.get("txt", b"").decode("utf-8", "replace").splitlines() if c.strip()]
        if not lines:
            continue
        images.append(_image(s) or b"")
        captions += lines
        owner += [len(images) - 1] * len(lines)
    if not images:
        raise ValueError(f"{root}: no sample with captions (`txt`) in its {split} shards")
    return ImageTextSet(images, captions, owner)


def dataset_name(folder: str | Path) -> str:
    """CLIP_benchmark's name of a set from its folder: `wds_mscoco_captions` -> `wds/mscoco_captions` (the
    `--dataset` its own eval takes and records for the webdataset sets)."""
    name = Path(folder).name
    return "wds/" + (name[len("wds_"):] if name.startswith("wds_") else name)


def result_file(record: dict) -> str:
    """The file name of one result record, as CLIP_benchmark's default --output names it by dataset and task."""
    return f"clip_benchmark_{record['dataset'].removeprefix('wds/').replace('/', '_')}_{record['task']}.json"


def results(metrics: dict[str, float], model: str, pretrained: str, paths) -> list[dict]:
    """The run's `classification/wds` and `retrieval/wds` metrics as CLIP_benchmark result records (its
    `--output` JSON, one object per file: dataset, model, pretrained, task, metrics as fractions, language), which
    its `clip_benchmark build` collects into one CSV."""
    out = []
    cls = {k.split("/")[-1]: v / 100 for k, v in metrics.items() if k.startswith("classification/wds/")}
    if cls:
        names = {"top1": "acc1", "top5": "acc5", "mean_per_class": "mean_per_class_recall"}
        out.append({"dataset": dataset_name(paths("wds_classification_dir")), "model": model, "pretrained": pretrained,
                    "task": "zeroshot_classification", "language": "en",
                    "metrics": {names[k]: v for k, v in cls.items() if k in names}})
    ret = {k.split("/")[-1]: v / 100 for k, v in metrics.items() if k.startswith("retrieval/wds/")}
    if ret:
        rename = {"t2i": "image_retrieval_recall", "i2t": "text_retrieval_recall"}
        out.append({"dataset": dataset_name(paths("wds_retrieval_dir")), "model": model, "pretrained": pretrained,
                    "task": "zeroshot_retrieval", "language": "en",
                    "metrics": {f"{rename[k[:3]]}@{k[5:]}": v for k, v in ret.items() if k[:3] in rename}})
    return out
