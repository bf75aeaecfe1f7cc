"""Evaluators as plug-ins: each names a task and a dataset ("retrieval/coco") and scores any Method through
encode_image / encode_text only. Metric keys are `<task>/<dataset>/<metric>` (e.g. retrieval/coco/i2t_r1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.transform import image_transform
from torch.utils.data import DataLoader

from . import datasets, probes, segmentation, segsets
from .classification import class_embeddings, class_ranks, classification_metrics
from .retrieval import recalls, retrieval_ranks


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Which evaluations a run performs and where their data lies (real datasets: local paths only)."""

    sets: tuple[str, ...] = ("retrieval/scenes", "classification/scenes")
    batch_size: int = 256
    workers: int = 0
    coco_images: str = ""  # folder of COCO images (val2017 or train2014+val2014 for Karpathy)
    coco_captions: str = ""  # captions_val2017.json or Karpathy dataset_coco.json
    flickr_images: str = ""
    flickr_karpathy: str = ""  # dataset_flickr30k.json (Karpathy test) or COSMOS's flickr30k_val.json (its split)
    imagenet_dir: str = ""  # ImageNet-style class folders (val split)
    sugarcrepe_dir: str = ""  # SugarCrepe's 7 json files (images: coco_images, the val2017 folder)
    mmvp_dir: str = ""  # MMVP-VLM: Questions.csv + MMVP_VLM_Images/
    svo_dir: str = ""  # SVO-Probes: svo_probes.csv + images/<id>.jpg
    linear_train_dir: str = ""  # linear probe on real data: train class folders (test: imagenet_dir)
    voc_dir: str = ""  # segmentation (methods/evals/segsets.py): VOCdevkit/VOC2012 (voc20, voc21)
    context_dir: str = ""  # VOCdevkit/VOC2010 with SegmentationClassContext (context59, context60)
    ade_dir: str = ""  # ADEChallengeData2016
    cocostuff_dir: str = ""  # coco_stuff164k (cocostuff, cocoobject)
    cityscapes_dir: str = ""  # cityscapes (leftImg8bit/, gtFine/)
    seg_names: str = "sclip"  # segmentation class lines: SCLIP's shipped name files (synonyms) or "dataset" names
    seg_names_dir: str = ""  # optional: a folder of cls_<set>.txt files replacing the names file by file
    linear_train_size: int = 5000  # linear probe on the benchmark: first N train samples
    maps: int = 8  # attention / similarity maps of the first N benchmark test images saved with the run (0: none)
    mean_per_class: bool = False
    imagenet_templates: str = "openai80"  # zero-shot ImageNet prompts: CLIP's 80 (COSMOS) or SLIP's 7 ("slip7")

    def __post_init__(self):
        if self.seg_names not in segsets.SEG_NAMES:
            raise ValueError(f"unknown seg_names {self.seg_names!r}; valid choices: {', '.join(segsets.SEG_NAMES)}")
        if self.imagenet_templates not in datasets.IMAGENET_TEMPLATES:
            raise ValueError(f"unknown imagenet_templates {self.imagenet_templates!r}; valid choices: "
                             f"{', '.join(datasets.IMAGENET_TEMPLATES)}")
        for name, least in (("batch_size", 1), ("workers", 0), ("linear_train_size", 1), ("maps", 0)):
            if getattr(self, name) < least:
                raise ValueError(f"{name}={getattr(self, name)} must be >= {least}")


def _retrieval_data(name: str, cfg: EvalConfig, scenes: Path | None) -> datasets.ImageTextSet:
    if name == "scenes":
        return datasets.scenes_retrieval(scenes)
    if name == "coco":
        return datasets.coco_captions(cfg.coco_images, cfg.coco_captions)
    return datasets.flickr30k(cfg.flickr_images, cfg.flickr_karpathy)


def _classification_data(name: str, cfg: EvalConfig, scenes: Path | None) -> datasets.LabelledImages:
    if name == "scenes":
        return datasets.scenes_classification(scenes)
    return datasets.image_folder(cfg.imagenet_dir, templates=datasets.IMAGENET_TEMPLATES[cfg.imagenet_templates])


def _linear_data(name: str, cfg: EvalConfig, scenes: Path | None):
    """(train, test) labelled images: the benchmark's train subset / test split, or train / val class folders."""
    if name == "scenes":
        train = datasets.scenes_classification(scenes, "train")
        n = min(cfg.linear_train_size, len(train.images))
        return datasets.LabelledImages(train.images[:n], train.labels[:n], train.classnames, train.templates), \
            datasets.scenes_classification(scenes)
    return datasets.image_folder(cfg.linear_train_dir), datasets.image_folder(cfg.imagenet_dir)


def _segmentation_data(name: str, cfg: EvalConfig, scenes: Path | None) -> segsets.SegmentationSet:
    """A segmentation set: the benchmark's test split with its exact class maps, or a real benchmark."""
    if name != "scenes":
        bench = segsets.BENCHMARKS[name]
        return segsets.read_benchmark(name, getattr(cfg, bench.path_key), cfg.seg_names_dir, names=cfg.seg_names)
    import io

    from PIL import Image

    from ..data.scenes.vocab import BACKGROUNDS, CATEGORIES, CLASSIFICATION_TEMPLATES, TEXTURES

    samples = datasets.read_split(scenes, "test")
    size = Image.open(io.BytesIO(samples[0]["jpg"])).size[0]
    # label 0 = background, named by synonyms as SCLIP's VOC21 list does (here the benchmark's backdrops),
    # 1..16 = categories; logit scale 40; the 64-px image in one window
    background = ", ".join(["background"] + [f"{c} background" for c in BACKGROUNDS] +
                           [f"{t} background" for t in TEXTURES])
    protocol = segmentation.SegmentationProtocol(window=size, stride=size // 2, short_side=size, logit_scale=40.0)
    return segsets.SegmentationSet([s["jpg"] for s in samples], [s["mask.png"] for s in samples],
                                   [background] + list(CATEGORIES), list(CLASSIFICATION_TEMPLATES), protocol)


def _compositional_data(name: str, cfg: EvalConfig, scenes: Path | None):
    if name == "scenes":
        return probes.scenes_compositional(scenes)
    if name == "svo":
        return probes.svo_probes(cfg.svo_dir)
    return probes.sugarcrepe(cfg.sugarcrepe_dir, cfg.coco_images)


def _perception_data(name: str, cfg: EvalConfig, scenes: Path | None) -> probes.ImagePairs:
    return probes.scenes_perception(scenes) if name == "scenes" else probes.mmvp_vlm(cfg.mmvp_dir)


# task -> (valid datasets, data reader)
TASKS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "retrieval": (("scenes", "coco", "flickr30k"), _retrieval_data),
    "classification": (("scenes", "imagenet"), _classification_data),
    "compositional": (("scenes", "sugarcrepe", "svo"), _compositional_data),
    "linear": (("scenes", "imagenet"), _linear_data),
    "segmentation": (("scenes", *segsets.BENCHMARKS), _segmentation_data),
    "perception": (("scenes", "mmvp"), _perception_data),
}
EVAL_SETS = tuple(f"{t}/{d}" for t, (ds, _) in TASKS.items() for d in ds)
# evaluation -> the EvalConfig path fields it reads (checked before any work: a missing path is found before
# training, not after it)
DATA_PATHS: dict[str, tuple[str, ...]] = {
    "retrieval/coco": ("coco_images", "coco_captions"), "retrieval/flickr30k": ("flickr_images", "flickr_karpathy"),
    "classification/imagenet": ("imagenet_dir",), "compositional/sugarcrepe": ("sugarcrepe_dir", "coco_images"),
    "compositional/svo": ("svo_dir",), "linear/imagenet": ("linear_train_dir", "imagenet_dir"),
    "perception/mmvp": ("mmvp_dir",),
    **{f"segmentation/{name}": (bench.path_key,) for name, bench in segsets.BENCHMARKS.items()},
}


def check_sets(sets) -> None:
    for s in sets:
        if s not in EVAL_SETS:
            raise ValueError(f"unknown evaluation {s!r}; valid choices: {', '.join(EVAL_SETS)}")


def check_paths(cfg: EvalConfig) -> None:
    """Every data path the configured evaluations read exists (and seg_names_dir, when given)."""
    for spec in cfg.sets:
        for key in DATA_PATHS.get(spec, ()):
            path = getattr(cfg, key)
            if not path:
                raise ValueError(f"{spec} needs eval.{key}=<path>")
            if not Path(path).exists():
                raise ValueError(f"eval.{key}={path!r} does not exist (needed by {spec})")
    if cfg.seg_names_dir and not Path(cfg.seg_names_dir).is_dir():
        raise ValueError(f"eval.seg_names_dir={cfg.seg_names_dir!r} is not a folder")


@torch.no_grad()
def embed_images(method, images, cfg: EvalConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) normalised embeddings and an (N,) bool mask of images that decoded (corrupt ones are zero rows)."""
    size = method.encoders.image_size
    tf = image_transform(size, is_train=False, mean=OPENAI_DATASET_MEAN, std=OPENAI_DATASET_STD)
    loader = DataLoader(datasets.ImageSource(images, tf, size), batch_size=cfg.batch_size, num_workers=cfg.workers)
    device = next(method.parameters()).device
    embs, oks = [], []
    for x, ok in loader:
        embs.append(method.encode_image(x.to(device)).float().cpu())
        oks.append(ok.bool())
    return torch.cat(embs), torch.cat(oks)


@torch.no_grad()
def embed_texts(method, texts: list[str], batch_size: int) -> torch.Tensor:
    tok = method.encoders.tokenizer()
    device = next(method.parameters()).device
    return torch.cat([method.encode_text(tok(texts[i:i + batch_size]).to(device)).float().cpu()
                      for i in range(0, len(texts), batch_size)])


def run_retrieval(method, data: datasets.ImageTextSet, cfg: EvalConfig, items: dict) -> dict[str, float]:
    img, ok = embed_images(method, data.images, cfg)
    owner = torch.tensor(data.caption_image)
    keep = ok[owner]  # captions of a skipped image leave with it
    remap = torch.cumsum(ok.long(), 0) - 1
    txt = embed_texts(method, [c for c, k in zip(data.captions, keep.tolist()) if k], cfg.batch_size)
    i2t, t2i = retrieval_ranks(img[ok], txt, remap[owner[keep]])
    items |= {"i2t_rank": i2t.numpy(), "t2i_rank": t2i.numpy()}
    return recalls(i2t, t2i) | {"skipped_images": float((~ok).sum())}


def run_classification(method, data: datasets.LabelledImages, cfg: EvalConfig, items: dict) -> dict[str, float]:
    img, ok = embed_images(method, data.images, cfg)
    device = next(method.parameters()).device
    tok = method.encoders.tokenizer()
    classes = class_embeddings(lambda t: method.encode_text(t.to(device)).float().cpu(), tok, data.classnames,
                               data.templates)
    labels = torch.tensor(data.labels)[ok]
    rank = class_ranks(img[ok], classes, labels)
    out = classification_metrics(img[ok], classes, labels, cfg.mean_per_class, rank)
    items |= {"rank": rank.numpy(), "label": labels.numpy()}
    return out | {"skipped_images": float((~ok).sum())}


def run_compositional(method, data, cfg: EvalConfig, items: dict) -> dict[str, float]:
    if isinstance(data, probes.ImageChoices):  # SVO: one sentence, two images
        (pos, ok_p), (neg, ok_n) = embed_images(method, data.positives, cfg), embed_images(method, data.negatives, cfg)
        ok = ok_p & ok_n
        keep = ok.nonzero().squeeze(1).tolist()
        txt = embed_texts(method, [data.sentences[i] for i in keep], cfg.batch_size)
        correct = probes.preference_correct(txt, pos[ok], neg[ok])
        items |= {"correct": correct.numpy(), "group": np.array([data.types[i] for i in keep])}
        out = probes.per_group(correct, [data.types[i] for i in keep])
        return out | {"skipped_images": float((~ok_p).sum() + (~ok_n).sum())}
    unique = {item: i for i, item in enumerate(dict.fromkeys(data.images))}  # probe sets reuse their images
    img_u, ok_u = embed_images(method, list(unique), cfg)
    index = torch.tensor([unique[item] for item in data.images])
    img, ok = img_u[index], ok_u[index]
    keep = ok.nonzero().squeeze(1).tolist()
    pos = embed_texts(method, [data.positives[i] for i in keep], cfg.batch_size)
    neg = embed_texts(method, [data.negatives[i] for i in keep], cfg.batch_size)
    correct = probes.preference_correct(img[ok], pos, neg)
    items |= {"correct": correct.numpy(), "group": np.array([data.types[i] for i in keep])}
    out = probes.per_group(correct, [data.types[i] for i in keep])
    return out | {"skipped_images": float((~ok).sum())}


def run_perception(method, data: probes.ImagePairs, cfg: EvalConfig, items: dict) -> dict[str, float]:
    (img_a, ok_a), (img_b, ok_b) = embed_images(method, data.images_a, cfg), embed_images(method, data.images_b, cfg)
    ok = ok_a & ok_b  # a pair with a corrupt image leaves whole
    keep = ok.nonzero().squeeze(1).tolist()
    cap_a = embed_texts(method, [data.captions_a[i] for i in keep], cfg.batch_size)
    cap_b = embed_texts(method, [data.captions_b[i] for i in keep], cfg.batch_size)
    correct = probes.pair_correct(img_a[ok], img_b[ok], cap_a, cap_b)
    items |= {"correct": correct.numpy(), "group": np.array([data.patterns[i] for i in keep])}
    out = probes.per_group(correct, [data.patterns[i] for i in keep])
    return out | {"skipped_images": float((~ok_a).sum() + (~ok_b).sum())}


def run_linear(method, data, cfg: EvalConfig, items: dict) -> dict[str, float]:
    from .linear_probe import linear_probe

    (train, test), feats = data, []
    for part in (train, test):
        x, ok = embed_images(method, part.images, cfg)
        feats.append((x[ok], torch.tensor(part.labels)[ok], int((~ok).sum())))
    (tx, ty, s1), (vx, vy, s2) = feats
    return linear_probe(tx, ty, vx, vy, items=items) | {"skipped_images": float(s1 + s2)}


@torch.no_grad()
def run_segmentation(method, data: segsets.SegmentationSet, cfg: EvalConfig, items: dict) -> dict[str, float]:
    """SCLIP protocol (methods/evals/segmentation.py): short side resized as mmseg (long side at most 2048), sliding
    windows, logits upsampled to the label map's size, mIoU over the accumulated confusion matrix; scored both
    plain (`miou`) and with correlative self-attention in the last block (`miou_csa`). A corrupt image or label
    map is skipped and counted."""
    import io

    from PIL import Image

    p = data.protocol
    device = next(method.parameters()).device
    tok = method.encoders.tokenizer()
    text, owner = segmentation.class_text_embeddings(lambda t: method.encode_text(t.to(device)), tok,
                                                     data.classnames, data.templates)
    n = len(data.classnames)
    confs = {tag: torch.zeros(n, n + 1, dtype=torch.long) for tag in ("", "_csa")}  # + the UNDECIDED column
    per_image = {tag: [] for tag in confs}  # each image's confusion: the items a bootstrap resamples
    skipped, tf = 0, _dense_transform()
    for img_src, mask_src in zip(data.images, data.masks):
        try:
            img = Image.open(io.BytesIO(img_src) if isinstance(img_src, bytes) else img_src).convert("RGB")
            gt = torch.from_numpy(np.array(Image.open(io.BytesIO(mask_src) if isinstance(mask_src, bytes)
                                                      else mask_src))).long()
        except (OSError, ValueError):
            skipped += 1
            continue
        if data.reduce_zero_label:
            gt = segsets.reduce_zero_label(gt)
        img = segmentation.mmseg_resize(img, p.short_side)
        x = tf(img).to(device)
        both = segmentation.dense_logits(method.dense_features, x, text, p.window, p.stride,
                                         method.encoders.patch_size)  # (2, S, H, W): plain, CSA
        both = torch.nn.functional.interpolate(both, size=gt.shape, mode="bilinear", align_corners=False)
        for tag, logits in zip(confs, both):
            conf = segmentation.confusion(segmentation.predict(logits, owner, p).cpu(), gt, n, p.ignore_index)
            confs[tag] += conf
            per_image[tag].append(conf.numpy().astype(np.int32))
    out = {f"{k}{tag}": v for tag, conf in confs.items() for k, v in segmentation.miou(conf).items()}
    items |= {f"conf{tag}": np.stack(c) if c else np.zeros((0, n, n + 1), np.int32) for tag, c in per_image.items()}
    return out | {"skipped_images": float(skipped)}


def _dense_transform():
    from torchvision import transforms as T

    return T.Compose([T.ToTensor(), T.Normalize(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)])


_RUNNERS = {"retrieval": run_retrieval, "classification": run_classification, "compositional": run_compositional,
            "perception": run_perception, "linear": run_linear, "segmentation": run_segmentation}


def evaluate(method, cfg: EvalConfig, scenes: Path | None = None, items: dict | None = None) -> dict[str, float]:
    """Every configured evaluation -> flat {"<task>/<dataset>/<metric>": value}. With `items`, it also gets each
    evaluation's per-test-item records as numpy arrays under "<task>/<dataset>/<field>" (ranks, correctness and
    groups, per-image confusion matrices): what analysis/statistics.py resamples for evaluation noise."""
    check_sets(cfg.sets)
    metrics = {}
    for spec in cfg.sets:
        task, name = spec.split("/")
        data = TASKS[task][1](name, cfg, scenes)
        found: dict = {}
        for k, v in _RUNNERS[task](method, data, cfg, found).items():
            metrics[f"{spec}/{k}"] = v
        if items is not None:
            items |= {f"{spec}/{k}": v for k, v in found.items()}
    return metrics
