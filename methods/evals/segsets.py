"""Real zero-shot segmentation benchmarks in their standard folder layouts (SCLIP / mmseg conventions), read
from user-given local paths: VOC20/21, Pascal Context 59/60, ADE20K, COCO-Stuff, COCO-Object, Cityscapes.

Each benchmark names its folders, file suffixes, split list, label convention and SCLIP protocol settings
(methods.md: short side 336 / 448 COCO-Stuff / 560 Cityscapes; logit scale 40, VOC21 65, Context60 and
COCO-Object 50; with-background sets: probability threshold 0.1, VOC21 area threshold 0.1). `reduce_zero_label`
is mmseg's: label 0 becomes ignore (255) and the others shift down by one.

Class names: the datasets' own names (mmseg's lists), one class per line. SCLIP's evaluation used its own name
files with synonyms ("person, person in shirt, ..."); those files ship with the suite (seg_names/, SCLIP's
`cls_<set>.txt`, source in its README) and are the default (`eval.seg_names=sclip`); `eval.seg_names=dataset`
uses the built-in dataset names below, and a folder given as `eval.seg_names_dir` replaces either file by file
(a file's line count must match the class count).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .sclip import SegmentationProtocol

VOC = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
       "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
CONTEXT59 = ("aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle", "building",
             "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup", "curtain", "dog",
             "door", "fence", "floor", "flower", "food", "grass", "ground", "horse", "keyboard", "light", "motorbike",
             "mountain", "mouse", "person", "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves",
             "sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor",
             "wall", "water", "window", "wood")
ADE20K = ("wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
          "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
          "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
          "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
          "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
          "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
          "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
          "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
          "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
          "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
          "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
          "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
          "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
          "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
          "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
          "glass", "clock", "flag")
COCO_THINGS = ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
               "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
               "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase",
               "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard",
               "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
               "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
               "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
               "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock",
               "vase", "scissors", "teddy bear", "hair drier", "toothbrush")
COCO_STUFF = COCO_THINGS + (
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower",
    "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper", "pavement",
    "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river", "road", "rock",
    "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs",
    "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood")
CITYSCAPES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
              "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


@dataclasses.dataclass(frozen=True)
class SegBenchmark:
    """Where a benchmark's files lie under its root folder, how its labels read, and its SCLIP settings."""

    path_key: str  # the EvalConfig field holding the root folder
    root_name: str  # the root folder's usual name, for error messages
    images: str  # image folder under the root
    masks: str  # label-map folder under the root
    img_suffix: str
    mask_suffix: str
    split_file: str | None  # list of ids under the root; None: every image under `images` (recursively)
    classes: tuple[str, ...]  # label order; with-background sets start with "background"
    names_file: str  # SCLIP's name-file name for this set (see the module docstring)
    reduce_zero_label: bool = False
    protocol: SegmentationProtocol = SegmentationProtocol()

    def layout(self) -> str:
        ids = f"ids from {self.split_file}" if self.split_file else f"{self.images}/**/<id>{self.img_suffix}"
        return (f"<{self.root_name}>/{self.images}/<id>{self.img_suffix} and "
                f"<{self.root_name}>/{self.masks}/<id>{self.mask_suffix} ({ids})")


_VOC = dict(path_key="voc_dir", root_name="VOCdevkit/VOC2012", images="JPEGImages", masks="SegmentationClass",
            img_suffix=".jpg", mask_suffix=".png", split_file="ImageSets/Segmentation/val.txt")
_CONTEXT = dict(path_key="context_dir", root_name="VOCdevkit/VOC2010", images="JPEGImages",
                masks="SegmentationClassContext", img_suffix=".jpg", mask_suffix=".png",
                split_file="ImageSets/SegmentationContext/val.txt")
_COCO = dict(path_key="cocostuff_dir", root_name="coco_stuff164k", images="images/val2017",
             masks="annotations/val2017", img_suffix=".jpg", split_file=None)
_WITH_BACKGROUND = dict(prob_threshold=0.1)

BENCHMARKS: dict[str, SegBenchmark] = {
    "voc21": SegBenchmark(**_VOC, classes=("background",) + VOC, names_file="cls_voc21.txt",
                          protocol=SegmentationProtocol(logit_scale=65.0, area_threshold=0.1, **_WITH_BACKGROUND)),
    "voc20": SegBenchmark(**_VOC, classes=VOC, names_file="cls_voc20.txt", reduce_zero_label=True),
    "context60": SegBenchmark(**_CONTEXT, classes=("background",) + CONTEXT59, names_file="cls_context60.txt",
                              protocol=SegmentationProtocol(logit_scale=50.0, **_WITH_BACKGROUND)),
    "context59": SegBenchmark(**_CONTEXT, classes=CONTEXT59, names_file="cls_context59.txt",
                              reduce_zero_label=True),
    "ade20k": SegBenchmark(path_key="ade_dir", root_name="ADEChallengeData2016", images="images/validation",
                           masks="annotations/validation", img_suffix=".jpg", mask_suffix=".png", split_file=None,
                           classes=ADE20K, names_file="cls_ade20k.txt", reduce_zero_label=True),
    "cocostuff": SegBenchmark(**_COCO, mask_suffix="_labelTrainIds.png", classes=COCO_STUFF,
                              names_file="cls_coco_stuff.txt", protocol=SegmentationProtocol(short_side=448)),
    "cocoobject": SegBenchmark(**_COCO, mask_suffix="_instanceTrainIds.png", classes=("background",) + COCO_THINGS,
                               names_file="cls_coco_object.txt",
                               protocol=SegmentationProtocol(logit_scale=50.0, **_WITH_BACKGROUND)),
    "cityscapes": SegBenchmark(path_key="cityscapes_dir", root_name="cityscapes", images="leftImg8bit/val",
                               masks="gtFine/val", img_suffix="_leftImg8bit.png",
                               mask_suffix="_gtFine_labelTrainIds.png", split_file=None, classes=CITYSCAPES,
                               names_file="cls_city_scapes.txt", protocol=SegmentationProtocol(short_side=560)),
}


@dataclasses.dataclass
class SegmentationSet:
    """What the segmentation runner consumes: image and label-map sources, class lines, templates, protocol."""

    images: list
    masks: list
    classnames: list[str]
    templates: list[str]
    protocol: SegmentationProtocol
    reduce_zero_label: bool = False


def reduce_zero_label(gt):
    """mmseg's reduce_zero_label on an integer label map: 0 -> 255 (ignored), k -> k - 1, 255 stays 255."""
    gt = gt.clone()
    zero, ignore = gt == 0, gt == 255
    gt -= 1
    gt[zero | ignore] = 255
    return gt


SCLIP_NAMES = Path(__file__).parent / "seg_names"  # SCLIP's cls_<set>.txt, shipped as data (see its README)
SEG_NAMES = ("sclip", "dataset")


def class_lines(bench: SegBenchmark, names_dir: str = "", names: str = "sclip") -> list[str]:
    """The class lines of a benchmark: a file of `names_dir` if it has one, else SCLIP's shipped name file
    (names="sclip", the papers' protocol) or the dataset's own class names (names="dataset")."""
    for folder in ([Path(names_dir)] if names_dir else []) + ([SCLIP_NAMES] if names == "sclip" else []):
        f = folder / bench.names_file
        if f.exists():
            lines = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
            if len(lines) != len(bench.classes):
                raise ValueError(f"{f}: {len(lines)} class lines, but the benchmark has {len(bench.classes)} classes")
            return lines
    return list(bench.classes)


def read_benchmark(name: str, root: str | Path, names_dir: str = "", templates: list[str] | None = None,
                   names: str = "sclip") -> SegmentationSet:
    """Pair every image of a benchmark's evaluation split with its label map; a clear error names the expected
    layout when the root, its folders or the split list are missing, or when an image has no label map."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    from .datasets import require_path

    bench = BENCHMARKS[name]
    layout = bench.layout()
    root = require_path(root, f"{name} ({bench.path_key})", layout)
    img_dir = require_path(root / bench.images, f"{name} image folder", layout)
    mask_dir = require_path(root / bench.masks, f"{name} label-map folder", layout)
    if bench.split_file:
        split = require_path(root / bench.split_file, f"{name} split list", layout)
        ids = [ln.strip() for ln in split.read_text().splitlines() if ln.strip()]
    else:
        ids = sorted(str(p.relative_to(img_dir))[:-len(bench.img_suffix)]
                     for p in img_dir.rglob(f"*{bench.img_suffix}"))
    if not ids:
        raise FileNotFoundError(f"{name}: no images found; expected layout: {layout}")
    images = [img_dir / f"{i}{bench.img_suffix}" for i in ids]
    masks = [mask_dir / f"{i}{bench.mask_suffix}" for i in ids]
    missing = [str(m) for m in masks if not m.exists()]
    if missing:
        raise FileNotFoundError(f"{name}: {len(missing)} label maps missing (first: {missing[0]}); expected "
                                f"layout: {layout}")
    templates = templates or [t("{}") for t in OPENAI_IMAGENET_TEMPLATES]
    return SegmentationSet(images, masks, class_lines(bench, names_dir, names), templates, bench.protocol,
                           bench.reduce_zero_label)
