"""Generate the synthetic scenes benchmark: train/val/test webdataset shards, probe sets, a dataset card.

Each shard is rendered from its own seed (seed, split, shard index), so the output is byte-identical for the same
settings whatever the number of worker processes. Tar members get a fixed mtime/owner for the same reason.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import webdataset as wds
from PIL import Image

from ...checkpoint import atomic_write
from ...progress import bar as progress_bar
from .captions import caption_record
from .probes import COMPOSITIONAL_TYPES, PERCEPTION_PATTERNS, hard_negative, hard_negative_v5, perception_pair
from .render import Scene, rebind, render, sample_scene
from .vocab import CATEGORIES, COLOURS, check_choice

SPLITS = ("train", "val", "test")
# The benchmark's version (ScenesConfig.version) enters the fingerprint, so a cached benchmark made by other code is
# never mistaken for another (and runs trained on it get a different data fingerprint); every listed version stays
# generable byte for byte. A change to rendering or captioning is a new version.
# 2: category surface patterns; 3: a short caption naming the objects by category alone; 4: category-typical colours;
# 5: designed by oracle gates (docs/benchmark.md): objects in distinct rows and colours, vertical relations only, a
#    hue-separated palette, captions that fit CLIP's context, equal-length hard negatives, test images in groups of
#    four with one bag of words and four bindings
VERSIONS = (4, 5)
GENERATOR_VERSION = VERSIONS[-1]
GROUP = 4  # v5's test images per group (generate.scene_for)
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3, "perception": 4, "compositional": 5}


@dataclasses.dataclass(frozen=True)
class ScenesConfig:
    """Settings of one generated benchmark. Defaults are the tiny scale (64 px, 20k train images)."""

    image_size: int = 64
    n_train: int = 20_000
    n_val: int = 500
    n_test: int = 1_000
    shard_size: int = 1_000
    min_objects: int = 1
    max_objects: int = 4
    categories: tuple[str, ...] = CATEGORIES
    colours: tuple[str, ...] = tuple(COLOURS)
    rotation_jitter: float = 15.0  # degrees; each object is rotated by U(-j, j)
    surface_patterns: bool = True  # each category painted with its own pattern (vocab.CATEGORY_PATTERNS)
    typical_colour_p: float = 0.8  # P(an object takes its category's typical colour), vocab.typical_colour; 0 = v3
    perception_pairs: int = 50  # pairs per MMVP-style pattern
    jpeg_quality: int = 95
    seed: int = 0
    version: int = 4  # generator version (VERSIONS); presets: tiny = 4 (the committed history), tiny-v5 = 5

    def __post_init__(self):
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32 px, got {self.image_size}")
        if self.min_objects < 1:
            raise ValueError(f"min_objects must be >= 1 (every scene needs a dominant object), got {self.min_objects}")
        if not self.min_objects <= self.max_objects <= 4:
            raise ValueError(f"need min_objects <= max_objects <= 4, got {self.min_objects}..{self.max_objects}")
        for n in ("n_train", "n_val", "n_test", "shard_size"):
            if getattr(self, n) < 1:
                raise ValueError(f"{n} must be >= 1, got {getattr(self, n)}")
        for c in self.categories:
            check_choice("category", c, CATEGORIES)
        for c in self.colours:
            check_choice("colour", c, tuple(COLOURS))
        if len(self.categories) < self.max_objects + 1:
            raise ValueError("need more categories than max_objects (hard negatives name an absent category)")
        if not 0 <= self.typical_colour_p <= 1:
            raise ValueError(f"typical_colour_p must lie in [0, 1], got {self.typical_colour_p}")
        if len(self.colours) < 2:
            raise ValueError("need at least 2 colours (attribute negatives need a false colour)")
        if self.version not in VERSIONS:
            raise ValueError(f"unknown scenes version {self.version}; valid choices: {', '.join(map(str, VERSIONS))}")
        if self.version >= 5 and not (2 <= self.min_objects and self.max_objects <= 3 and
                                      len(self.colours) > self.max_objects and self.n_test % GROUP == 0):
            raise ValueError("version 5 needs 2 <= min_objects <= max_objects <= 3 (one object per row), more "
                             f"colours than max_objects (one colour per object) and n_test a multiple of {GROUP}")

    def split_size(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]

    def fingerprint(self) -> str:
        fields = dataclasses.asdict(self)
        fields["version"] = fields.pop("version")  # v4's fingerprint is the one v4 had before versions were a field
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def rng_for(cfg: ScenesConfig, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, _SPLIT_CODE[split], index])


def scene_for(cfg: ScenesConfig, split: str, i: int) -> tuple[Scene, np.random.Generator]:
    """Sample i of a split and the generator its captions draw from. v5's test split comes in groups of GROUP
    images: one scene and its rebindings (colours passed on, rows passed on, both), the same words in other
    bindings, so retrieval cannot be solved by a bag of words (docs/benchmark.md)."""
    if cfg.version >= 5 and split == "test":
        group, variant = divmod(i, GROUP)
        base = _sample(cfg, rng_for(cfg, split, group * GROUP))
        rng = rng_for(cfg, split, i)
        return (base if variant == 0 else rebind(base, rng, cfg.image_size, variant in (1, 3), variant in (2, 3))), \
            rng
    rng = rng_for(cfg, split, i)
    return _sample(cfg, rng), rng


def _sample(cfg: ScenesConfig, rng: np.random.Generator) -> Scene:
    return sample_scene(rng, image_size=cfg.image_size, min_objects=cfg.min_objects,
                        max_objects=cfg.max_objects, categories=cfg.categories, colours=cfg.colours,
                        rotation_jitter=cfg.rotation_jitter, typical_colour_p=cfg.typical_colour_p,
                        rows=cfg.version >= 5)


def sample_record(cfg: ScenesConfig, split: str, i: int) -> tuple[Scene, dict]:
    """Scene i of a split and its caption fields, exactly as the shards hold them (what the oracles read)."""
    scene, rng = scene_for(cfg, split, i)
    return scene, caption_record(scene, rng, cfg.version)


def encode_sample(key: str, img: Image.Image, cmap: np.ndarray, meta: dict, quality: int) -> dict:
    jpg, png = io.BytesIO(), io.BytesIO()
    img.save(jpg, format="JPEG", quality=quality)
    Image.fromarray(cmap, "L").save(png, format="PNG")
    return {"__key__": key, "jpg": jpg.getvalue(), "mask.png": png.getvalue(),
            "json": json.dumps(meta, sort_keys=True).encode()}


def _write(path: Path, samples) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:  # two first uses of the benchmark never share a file
        w = wds.TarWriter(f, mtime=0, user="scenes", group="scenes")
        try:
            for s in samples:
                w.write(s)
        except BaseException:  # a full disk: the tar stream is dropped with its file, not flushed at exit
            stream = getattr(w.tarstream, "fileobj", None)
            if stream is not None and hasattr(stream, "closed"):
                stream.closed = True  # tarfile's _Stream: nothing left to flush into the closed file
            raise
        w.close()


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def _shard_samples(cfg: ScenesConfig, split: str, start: int, stop: int):
    for i in range(start, stop):
        scene, captions = sample_record(cfg, split, i)
        img, cmap = render(scene, cfg.image_size, cfg.surface_patterns)
        meta = captions | {"scene": scene.to_json(), "index": i}
        yield encode_sample(f"{split}{i:07d}", img, cmap, meta, cfg.jpeg_quality)


def write_shard(cfg: ScenesConfig, split: str, shard: int, out: Path) -> Path:
    start = shard * cfg.shard_size
    stop = min(start + cfg.shard_size, cfg.split_size(split))
    path = out / split / f"{split}-{shard:06d}.tar"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, _shard_samples(cfg, split, start, stop))
    return path


def compositional_items(cfg: ScenesConfig) -> dict[str, list[dict]]:
    """Hard-negative items over the test split, one list per SugarCrepe type."""
    items = {k: [] for k in COMPOSITIONAL_TYPES}
    negative = hard_negative_v5 if cfg.version >= 5 else hard_negative
    for i in range(cfg.n_test):
        scene, _ = scene_for(cfg, "test", i)
        rng = np.random.default_rng([cfg.seed, _SPLIT_CODE["compositional"], i])
        for kind in COMPOSITIONAL_TYPES:
            pair = negative(scene, kind, rng, cfg.categories, cfg.colours)
            if pair is not None:
                pos, neg = pair
                items[kind].append({"key": f"test{i:07d}", "positive": pos.text(), "negative": neg.text(),
                                    "pos": pos.to_json(), "neg": neg.to_json()})
    return items


def perception_pairs(cfg: ScenesConfig):
    """(pattern, pair index, ((scene a, caption a), (scene b, caption b))) of every MMVP-style pair."""
    for p, pattern in enumerate(PERCEPTION_PATTERNS):
        for j in range(cfg.perception_pairs):
            idx = p * cfg.perception_pairs + j
            base, _ = scene_for(cfg, "test", idx % cfg.n_test)
            rng = np.random.default_rng([cfg.seed, _SPLIT_CODE["perception"], idx])
            yield pattern, j, perception_pair(base, pattern, rng, cfg.image_size, cfg.categories, cfg.colours,
                                              cfg.version)


def _perception_samples(cfg: ScenesConfig):
    for pattern, j, pair in perception_pairs(cfg):
        idx = PERCEPTION_PATTERNS.index(pattern) * cfg.perception_pairs + j
        for side, (scene, caption) in zip("ab", pair):
            img, cmap = render(scene, cfg.image_size, cfg.surface_patterns)
            meta = {"pattern": pattern, "pair": idx, "side": side, "caption": caption, "scene": scene.to_json()}
            yield encode_sample(f"{pattern}-{j:04d}-{side}", img, cmap, meta, cfg.jpeg_quality)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate(cfg: ScenesConfig, out: Path, workers: int | None = None, progress: bool = True) -> dict:
    """Write every split, the probe sets, CARD.md and (last) meta.json under out; return the meta dict."""
    from .card import statistics, write_card

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(s, k) for s in SPLITS for k in range(-(-cfg.split_size(s) // cfg.shard_size))]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    paths = []
    with cf.ProcessPoolExecutor(workers) as pool:
        futs = [pool.submit(write_shard, cfg, s, k, out) for s, k in jobs]
        for f in progress_bar(cf.as_completed(futs), "scenes shards", show=None if progress else False,
                              total=len(futs)):
            paths.append(f.result())
        comp = pool.submit(compositional_items, cfg)
        probes = out / "probes"
        probes.mkdir(exist_ok=True)
        _write(probes / "perception-000000.tar", _perception_samples(cfg))
        _write_text(probes / "compositional.json", json.dumps(comp.result(), sort_keys=True, indent=1))
    files = sorted(paths) + [probes / "perception-000000.tar", probes / "compositional.json"]
    meta = {"config": dataclasses.asdict(cfg), "fingerprint": cfg.fingerprint(),
            "shards": {s: sorted(str(p.relative_to(out)) for p in paths if p.parent.name == s) for s in SPLITS},
            "sha256": {str(p.relative_to(out)): _sha256(p) for p in files},
            "statistics": statistics(cfg, out)}
    write_card(meta, out / "CARD.md")
    _write_text(out / "meta.json", json.dumps(meta, sort_keys=True, indent=1))  # last: marks the set complete
    return meta
