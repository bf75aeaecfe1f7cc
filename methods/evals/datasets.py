"""Readers for real evaluation data at user-given local paths (the benchmark's own: methods/data/scenes/scenesets.py).

Nothing is downloaded. A reader returns plain lists (image sources = file paths or encoded bytes); images are
decoded lazily by `ImageSource`, where a corrupt image is skipped and counted instead of raising.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".JPEG")


@dataclasses.dataclass
class ImageTextSet:
    """Retrieval data: images, captions, and caption -> image index."""

    images: Sequence  # paths or encoded bytes
    captions: list[str]
    caption_image: list[int]
    layout: str = ""  # the annotation format the reader found (recorded with the run)


@dataclasses.dataclass
class LabelledImages:
    """Classification data: images, integer labels, class names and prompt templates."""

    images: Sequence
    labels: list[int]
    classnames: list[str]
    templates: list[str]


class ImageSource(Dataset):
    """(image tensor, ok flag) per item; a corrupt or unreadable image gives ok=0 and a zero tensor."""

    def __init__(self, items: Sequence, transform, size: int):
        self.items, self.transform, self.size = items, transform, size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        item = self.items[i]
        try:
            img = Image.open(io.BytesIO(item) if isinstance(item, bytes) else item)
            return self.transform(img.convert("RGB")), 1
        except (OSError, ValueError):
            return torch.zeros(3, self.size, self.size), 0


def require_path(path: str | Path, what: str, layout: str) -> Path:
    p = Path(path) if path else None
    if p is None or not p.exists():
        raise FileNotFoundError(f"{what} not found at {str(path)!r}; expected layout: {layout}")
    return p


_COCO_LAYOUT = ("the COCO root (e.g. coco/, holding val2017/ or val2014/) or its image folder + an annotation file: "
                "captions_val2017.json ({'images': [{id, file_name}], 'annotations': [{image_id, caption}]}: "
                "COSMOS's val2017 protocol), Karpathy's dataset_coco.json ({'images': [{filepath, filename, split, "
                "sentences: [{raw}]}]}: its 5k test split) or BLIP/LAVIS's coco_karpathy_test.json ([{image: "
                "'val2014/...jpg', caption: [...]}])")
_FLICKR_LAYOUT = ("flickr30k-images/*.jpg + Karpathy's dataset_flickr30k.json ({'images': [{filename, split, "
                  "sentences: [{raw}]}]}: its test split), BLIP's / COSMOS's flickr30k_test.json or flickr30k_val.json "
                  "([{image, caption: [...]}]), CLIP_benchmark's flickr30k_test_karpathy.txt (a header line, then "
                  "'<image>.jpg,<caption>' lines) or nlphuji/flickr30k's flickr_annotations_30k.csv (columns raw, "
                  "split, filename: its test split)")


def _read_text(path: Path, what: str, layout: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not {what} (not UTF-8 text); expected {layout}") from None


def _json(path: Path, what: str, layout: str):
    try:
        return json.loads(_read_text(path, what, layout))
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{path}: not {what} (not JSON); expected {layout}") from None


def _resolver(images_dir: Path, first: list[str]):
    """A function from an annotation's candidate relative paths to the file: the candidate form under `images_dir`
    that exists for the set's first image (`first`: its candidates) is the form the whole set uses (one stat per
    set, not per image); none existing keeps the first form (those images count as missing)."""
    form = next((i for i, c in enumerate(first) if (images_dir / c).exists()), 0)
    return lambda cands: str(images_dir / cands[min(form, len(cands) - 1)])


def _image_captions(images_dir: Path, entries: list[tuple[list[str], list[str]]], layout: str) -> ImageTextSet:
    """Entries (candidate relative image paths, captions) -> an ImageTextSet."""
    resolve = _resolver(images_dir, entries[0][0] if entries else [])
    images, captions, owner = [], [], []
    for cands, caps in entries:
        owner += [len(images)] * len(caps)
        captions += [c.strip() for c in caps]
        images.append(resolve(cands))
    if not images:
        raise ValueError(f"{layout}: no image-caption pairs in the annotation file")
    return ImageTextSet(images, captions, owner, layout)


def _caption_list(data, path: Path, what: str, layout: str, split: str = "") -> list[tuple[list[str], list[str]]]:
    """BLIP/LAVIS's [{image, caption: str | [str]}] and Karpathy's {'images': [...]} as entries."""
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        try:
            return [([str(Path(img.get("filepath", "")) / img["filename"]), img["filename"]],
                     [s["raw"] for s in img["sentences"]]) for img in data["images"] if img["split"] == split]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: not {what} (a Karpathy 'images' entry lacks filename, split or sentences); "
                             f"expected {layout}") from None
    if isinstance(data, list) and all(isinstance(a, dict) and "image" in a and "caption" in a for a in data):
        return [([a["image"], Path(a["image"]).name],
                 a["caption"] if isinstance(a["caption"], list) else [a["caption"]]) for a in data]
    raise ValueError(f"{path}: not {what}; expected {layout}")


def coco_captions(images_dir: str | Path, captions_json: str | Path, split: str = "test") -> ImageTextSet:
    """COCO retrieval, the format detected from the file: the official captions_val2017.json (every image, COSMOS's
    protocol), Karpathy's dataset_coco.json (its `split` part: the 5k test) or BLIP's coco_karpathy_test.json.
    `images_dir` may be the COCO root or the image folder itself: paths are resolved against it either way."""
    images_dir = require_path(images_dir, "COCO images folder", _COCO_LAYOUT)
    path = require_path(captions_json, "COCO captions json", _COCO_LAYOUT)
    data = _json(path, "a COCO annotation file", _COCO_LAYOUT)
    if isinstance(data, dict) and "annotations" in data:  # official captions_*.json
        try:
            index = {img["id"]: i for i, img in enumerate(data["images"])}
            anns = sorted(data["annotations"], key=lambda a: (index[a["image_id"]], a.get("id", 0)))
            names = [img["file_name"] for img in data["images"]]
            caps = [(index[a["image_id"]], a["caption"]) for a in anns]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: not a COCO captions file (images need id and file_name, annotations image_id "
                             f"and caption); expected {_COCO_LAYOUT}") from None
        def forms(n: str) -> list[str]:  # the COCO root, its image folder, or the COSMOS datasets README's layout
            return [n, f"val2017/{n}", f"images/val2017/{n}"]

        resolve = _resolver(images_dir, forms(names[0]) if names else [])
        images = [resolve(forms(n)) for n in names]
        return ImageTextSet(images, [c.strip() for _, c in caps], [i for i, _ in caps], "COCO captions (official)")
    layout = "Karpathy dataset_coco.json" if isinstance(data, dict) else "BLIP coco_karpathy json"
    return _image_captions(images_dir, _caption_list(data, path, "a COCO annotation file", _COCO_LAYOUT, split),
                           layout)


def flickr30k(images_dir: str | Path, annotations: str | Path) -> ImageTextSet:
    """Flickr30k retrieval, the format detected from the file (see _FLICKR_LAYOUT): Karpathy's json (its test
    split), BLIP's / COSMOS's [{image, caption}] list (the whole file: flickr30k_val.json is the 1k val split the
    COSMOS paper reports), CLIP_benchmark's txt, or nlphuji's csv (its test split). Images are looked up by file
    name in images_dir."""
    path = require_path(annotations, "Flickr30k annotation file", _FLICKR_LAYOUT)
    images_dir = Path(require_path(images_dir, "Flickr30k images folder", _FLICKR_LAYOUT))
    what = "a Flickr30k annotation file"
    head = _read_text(path, what, _FLICKR_LAYOUT)
    if path.suffix == ".csv" or head.startswith("raw,"):  # nlphuji/flickr30k
        rows = list(csv.DictReader(io.StringIO(head)))
        if not rows or not {"raw", "split", "filename"} <= set(rows[0]):
            raise ValueError(f"{path}: not {what} (no columns raw, split, filename); expected {_FLICKR_LAYOUT}")
        try:
            entries = [([r["filename"]], json.loads(r["raw"])) for r in rows if r["split"] == "test"]
        except json.JSONDecodeError:
            raise ValueError(f"{path}: not {what} (a 'raw' cell is not a JSON list); expected {_FLICKR_LAYOUT}") \
                from None
        return _image_captions(images_dir, entries, "nlphuji flickr_annotations_30k.csv (test)")
    if path.suffix == ".txt":  # CLIP_benchmark: a header line, then "<image>.jpg,<caption>"
        by_image: dict[str, list[str]] = {}
        for line in head.splitlines()[1:]:
            if line.strip():
                if ".jpg," not in line:
                    raise ValueError(f"{path}: not {what} (a line without '<image>.jpg,<caption>'); expected "
                                     f"{_FLICKR_LAYOUT}")
                image, caption = line.strip().split(".jpg,", 1)
                by_image.setdefault(image + ".jpg", []).append(caption)
        return _image_captions(images_dir, [([k], v) for k, v in by_image.items()],
                               "CLIP_benchmark flickr30k_test_karpathy.txt")
    try:
        data = json.loads(head)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{path}: not {what} (not JSON, CSV or CLIP_benchmark txt); expected {_FLICKR_LAYOUT}") \
            from None
    entries = _caption_list(data, path, what, _FLICKR_LAYOUT, "test")
    entries = [([Path(c[-1]).name], caps) for c, caps in entries]  # Flickr images: by file name in images_dir
    layout = "Karpathy dataset_flickr30k.json (test)" if isinstance(data, dict) else "BLIP/COSMOS flickr30k json"
    return _image_captions(images_dir, entries, layout)


# Zero-shot ImageNet prompts: "openai80" = CLIP's 80 templates (open_clip's list; COSMOS), applied to 1000-class
# folders as image_folder's default; "slip7" = the 7 of SLIP's templates.json["imagenet"] (facebookresearch/SLIP).
IMAGENET_TEMPLATES: dict[str, list[str] | None] = {
    "openai80": None,
    "slip7": ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
              "a {} in a video game.", "art of the {}.", "a photo of the small {}."],
}


def image_folder(root: str | Path, classnames: list[str] | None = None,
                 templates: list[str] | None = None) -> LabelledImages:
    """ImageNet-style class folders root/<class>/<image>. Class order = sorted folder names.

    Without explicit classnames, 1000 folders get open_clip's ImageNet class names and the 80 OpenAI templates;
    otherwise folder names with '_' read as spaces and the templates default to 'a photo of a {}.'."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    root = require_path(root, "image folder", "<root>/<class name or wnid>/<image>.jpg")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise FileNotFoundError(f"no class folders under {root}; expected <root>/<class>/<image>.jpg")
    images, labels = [], []
    for c, folder in enumerate(folders):
        files = sorted(p for p in folder.iterdir() if p.suffix in IMAGE_EXTS)
        images += [str(p) for p in files]
        labels += [c] * len(files)
    imagenet = len(folders) == 1000 and classnames is None
    if classnames is None:
        classnames = list(IMAGENET_CLASSNAMES) if imagenet else [p.name.replace("_", " ") for p in folders]
    if templates is None:
        templates = [t("{}") for t in OPENAI_IMAGENET_TEMPLATES] if imagenet else ["a photo of a {}."]
    if len(classnames) != len(folders):
        raise ValueError(f"{len(classnames)} class names for {len(folders)} class folders")
    return LabelledImages(images, labels, list(classnames), list(templates))
