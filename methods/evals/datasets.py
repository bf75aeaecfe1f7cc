"""Readers for real evaluation data at user-given local paths (the benchmark's own: methods/data/scenes/scenesets.py).

Nothing is downloaded. A reader returns plain lists (image sources = file paths or encoded bytes); images are
decoded lazily by `ImageSource`, where a corrupt image is skipped and counted instead of raising.
"""

from __future__ import annotations

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


_COCO_LAYOUT = ("images folder (e.g. coco/val2017/*.jpg) + captions json: captions_val2017.json "
                "({'images': [{id, file_name}], 'annotations': [{image_id, caption}]}) or Karpathy dataset_coco.json "
                "({'images': [{filepath, filename, split, sentences: [{raw}]}]})")


def coco_captions(images_dir: str | Path, captions_json: str | Path, split: str = "test") -> ImageTextSet:
    """COCO retrieval from the official val2017 captions json or the Karpathy split json (its `split` part)."""
    images_dir = require_path(images_dir, "COCO images folder", _COCO_LAYOUT)
    data = json.loads(require_path(captions_json, "COCO captions json", _COCO_LAYOUT).read_text())
    if "annotations" in data:  # official captions_*.json: every image of the file with all its captions
        index = {img["id"]: i for i, img in enumerate(data["images"])}
        images = [str(images_dir / img["file_name"]) for img in data["images"]]
        anns = sorted(data["annotations"], key=lambda a: (index[a["image_id"]], a.get("id", 0)))
        return ImageTextSet(images, [a["caption"].strip() for a in anns], [index[a["image_id"]] for a in anns])
    return karpathy(images_dir, data, split)


def flickr30k(images_dir: str | Path, annotations: str | Path) -> ImageTextSet:
    """Flickr30k retrieval from either annotation file: the Karpathy split json (dataset_flickr30k.json: its test
    split, the common protocol) or a list of {"image", "caption": [captions]} as the official COSMOS code reads
    (its flickr30k_val.json, BLIP's 1k val split, which the COSMOS paper reports; flickr30k_test.json alike):
    the whole file, images looked up by file name in images_dir."""
    data = json.loads(require_path(annotations, "Flickr30k annotation json", _FLICKR_LAYOUT).read_text())
    if isinstance(data, dict):
        return karpathy(images_dir, data, "test")
    if not isinstance(data, list) or not all(isinstance(a, dict) and "image" in a and "caption" in a for a in data):
        raise ValueError(f"{annotations}: not a Flickr30k annotation file; expected {_FLICKR_LAYOUT}")
    images_dir = Path(require_path(images_dir, "Flickr30k images folder", _FLICKR_LAYOUT))
    images, captions, owner = [], [], []
    for a in data:
        caps = a["caption"] if isinstance(a["caption"], list) else [a["caption"]]
        owner += [len(images)] * len(caps)
        captions += [c.strip() for c in caps]
        images.append(str(images_dir / Path(a["image"]).name))
    return ImageTextSet(images, captions, owner)


_FLICKR_LAYOUT = ("flickr30k-images/*.jpg + dataset_flickr30k.json (Karpathy: {'images': [{filename, split, "
                  "sentences: [{raw}]}]}) or flickr30k_val.json / flickr30k_test.json ([{image, caption: [...]}])")


def karpathy(images_dir: str | Path, data: dict | str | Path, split: str = "test") -> ImageTextSet:
    """A Karpathy-split json (dataset_coco.json / dataset_flickr30k.json): the images of `split`."""
    if not isinstance(data, dict):
        data = json.loads(require_path(data, "Karpathy split json", _COCO_LAYOUT).read_text())
    images_dir = Path(images_dir)
    images, captions, owner = [], [], []
    for img in (x for x in data["images"] if x["split"] == split):
        owner += [len(images)] * len(img["sentences"])
        captions += [s["raw"].strip() for s in img["sentences"]]
        images.append(str(images_dir / img.get("filepath", "") / img["filename"]))
    if not images:
        raise ValueError(f"Karpathy json has no images with split {split!r}")
    return ImageTextSet(images, captions, owner)


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
