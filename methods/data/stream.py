"""The webdataset training stream: shards -> shuffled raw samples -> decoded views -> batches.

Determinism is the design constraint. Shards are split over (rank, worker) "slots" (or, with interleave, every
rank reads the stream of a one-rank run and keeps its share of the samples); each slot reads an endless,
seeded sequence of shards (epochs re-shuffled, or resampled with replacement for long runs), shuffles samples in
a seeded buffer, and gives sample i of its stream the seed (run seed, slot, i) for its augmentations. Each batch
comes with a BatchMeta: the slot and the stream position it reached, so a checkpoint can store one position per
slot and a resumed run skips exactly what was consumed (raw bytes only, no decoding) and continues with identical
batches. Corrupt samples (bad image bytes, an image over data.max_pixels, missing/empty caption, non-UTF-8 text,
any failure to decode one) are skipped and counted in `BatchMeta.skipped`; unreadable tar data (a truncated or
garbage shard, a bad member) in `BatchMeta.tar_errors` (one per read error: the samples lost after a cut are
unknown). Neither is raised, until MAX_CONSECUTIVE_FAILURES in a row: then the data set is broken, not a few
samples, and a DataError says so instead of looping forever.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import random
import re
from collections.abc import Iterator
from typing import NamedTuple

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import DataError
from .text import has_recaptions, normalise_record, split_sentences, validate_record
from .views import ImageView, ViewBuilder

log = logging.getLogger(__name__)
IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")
MAX_CONSECUTIVE_FAILURES = 1000


# The largest image a sample may hold (data.max_pixels' default): 50 megapixels, far above web-scale training
# images (CC3M's are under 1 MP); a larger one is a skip, read from the header before anything is decoded.
MAX_PIXELS = 50_000_000
MAX_SHARDS = 1_000_000  # a data.shards listing longer than this is a typo, not a dataset (LAION-5B: ~500k shards)


def decode_sample(raw: dict, max_pixels: int = MAX_PIXELS, draft_side: int = 0) -> dict:
    """{"image": RGB PIL image, "captions": caption record}; raises on a corrupt sample (the stream counts it).
    draft_side > 0: a JPEG whose shorter side is at least twice draft_side is decoded at the largest of the
    decoder's 1/2, 1/4, 1/8 scales that keeps that side >= draft_side (PIL's draft; data.jpeg_draft)."""
    key = next((k for k in IMAGE_KEYS if k in raw), None)
    if key is None:
        raise ValueError("no image member")
    img = Image.open(io.BytesIO(raw[key]))
    if img.width * img.height > max_pixels:
        raise ValueError(f"image of {img.width}x{img.height} pixels exceeds data.max_pixels={max_pixels}")
    if draft_side and img.format == "JPEG" and min(img.size) >= 2 * draft_side:
        k = draft_side / min(img.size)
        img.draft("RGB", (math.ceil(img.width * k), math.ceil(img.height * k)))
    img.load()
    return {"image": to_rgb(img), "captions": caption_record(raw), "key": raw.get("__key__")}


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB; 16- and 32-bit grayscale scaled by their range (PIL's convert would clip them at 255)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() <= 65535 else float(arr.max())
        img = Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8), "L")
    return img.convert("RGB")


def caption_record(raw: dict) -> dict:
    """A raw sample's validated caption record (any supported layout); raises ValueError when it has none."""
    if "json" in raw:
        record = normalise_record(json.loads(raw["json"].decode("utf-8")))
    elif "txt" in raw:
        record = {"raw_caption": split_sentences(raw["txt"].decode("utf-8"))}
    else:
        raise ValueError("no caption member (json or txt)")
    validate_record(record)
    return record


_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?|([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?")


def brace_count(pattern: str) -> int:
    """How many names a brace pattern expands to (braceexpand's {a..b[..step]} ranges and {x,y} alternatives,
    nested), counted without expanding it."""
    start = pattern.find("{")
    if start < 0:
        return 1
    depth, end = 0, -1
    for i in range(start, len(pattern)):
        depth += {"{": 1, "}": -1}.get(pattern[i], 0)
        if depth == 0:
            end = i
            break
    if end < 0:  # an unclosed brace is a literal character
        return 1
    inner, rest = pattern[start + 1:end], pattern[end + 1:]
    match = _RANGE.fullmatch(inner)
    if match and match[1] is not None:
        step = abs(int(match[3] or 1)) or 1
        options = abs(int(match[2]) - int(match[1])) // step + 1
    elif match:
        step = abs(int(match[6] or 1)) or 1
        options = abs(ord(match[5]) - ord(match[4])) // step + 1
    else:
        parts, depth, last = [], 0, 0
        for i, ch in enumerate(inner):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if ch == "," and depth == 0:
                parts.append(inner[last:i])
                last = i + 1
        parts.append(inner[last:])
        options = sum(brace_count(p) for p in parts) if len(parts) > 1 else 1
    return options * brace_count(rest)


def expand_shards(spec: str) -> list[str]:
    """The .tar files of data.shards: a folder (its *.tar), or brace patterns joined by '::'
    (e.g. /d/{000000..000331}.tar::/e/{000..009}.tar). Every listed shard must exist: a set with holes is
    refused, naming the missing ones, because a table trained on part of a dataset reads like one trained on all
    of it; list only the shards you have (several '::'-joined ranges) to train on a partial download."""
    import glob
    import os

    import braceexpand

    if os.path.isdir(spec):
        urls = sorted(glob.glob(os.path.join(glob.escape(spec), "*.tar")))
        if not urls:
            raise FileNotFoundError(f"data.shards={spec!r} is a folder without .tar shards")
        return [os.path.abspath(u) for u in urls]  # absolute: a name like "pipe:cmd" is a file, never a command
    urls = []
    for part in (p for p in spec.split("::") if p):
        if brace_count(part) + len(urls) > MAX_SHARDS:  # counted before anything is expanded
            raise ValueError(f"data.shards={spec[:80]!r} lists more than {MAX_SHARDS:,} shards")
        urls += itertools.islice(braceexpand.braceexpand(part), MAX_SHARDS + 1 - len(urls))
        if len(urls) > MAX_SHARDS:
            raise ValueError(f"data.shards={spec[:80]!r} lists more than {MAX_SHARDS:,} shards")
    missing = [u for u in urls if not os.path.isfile(u)]
    if not urls or len(missing) == len(urls):
        raise FileNotFoundError(f"no shard of data.shards={spec!r} exists")
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(urls)} shards of data.shards={spec!r} do not exist "
                                f"(first: {', '.join(missing[:3])}); list only the shards you have")
    return [os.path.abspath(u) for u in urls]


def recaption_share(urls: list[str], limit: int = 256) -> tuple[int, int]:
    """(records read, records with synthetic captions) over the first `limit` readable samples of the shards:
    a cheap look before training, so a text-crop run on alt-text-only shards is refused, not silently raw."""
    seen = with_recaptions = 0
    for raw in read_all(urls):
        try:
            record = caption_record(raw)  # captions only: no image decoding for a look at the captions
        except Exception:  # noqa: BLE001 - a look at the captions never fails on one bad record
            continue
        seen += 1
        with_recaptions += has_recaptions(record)
        if seen >= limit:
            break
    return seen, with_recaptions


def local_files(urls) -> list[str]:
    """Shard names as absolute local paths: webdataset opens "pipe:CMD" (and URLs) by running or fetching them, and
    the suite's readers read local files only, so a file or folder that happens to be named "pipe:..." stays a
    file. Every reader of shards goes through this (read_all, ShardStream)."""
    import os

    return [os.path.abspath(os.fspath(u)) for u in urls]


def read_all(urls: list[str]):
    """Every raw sample of these shards, in order, in this process (no node or worker splitting: for evaluation
    sets, statistics and conversion, which every rank that calls it must see whole, even under torchrun)."""
    return wds.DataPipeline(wds.SimpleShardList(local_files(urls)), wds.tarfile_to_samples())


def sample_seed(seed: int, slot: int, index: int) -> int:
    return random.Random(f"{seed}/{slot}/{index}").getrandbits(62)


class BatchMeta(NamedTuple):
    """What the stream says about a batch besides its tensors."""

    slot: int  # the reader (rank x worker) that built it
    pos: int  # that reader's stream position after it: where a resumed run continues
    skipped: int  # corrupt samples the reader skipped since its previous batch
    tar_errors: int  # unreadable tar data it met since its previous batch


class ShardStream(IterableDataset):
    """Endless (batch, BatchMeta) pairs of the declared views; see the module docstring for the determinism
    contract."""

    def __init__(self, urls: list[str], views: dict, tokenizer, batch_size: int, *, seed: int = 0,
                 shuffle_buffer: int = 1000, resampled: bool = False, rank: int = 0, world_size: int = 1,
                 start: dict[int, int] | None = None, rotation: int = 0, interleave: bool = False,
                 augment: str = "workers", view_ops: str = "pil", max_pixels: int = MAX_PIXELS,
                 jpeg_draft: bool = False):
        if not urls:
            raise ValueError("no training shards given")
        self.urls, self.batch_size, self.seed = sorted(local_files(urls)), batch_size, seed
        self.builder = ViewBuilder(views, tokenizer, augment, view_ops)
        self.shuffle_buffer, self.resampled = shuffle_buffer, resampled
        self.rank, self.world_size = rank, world_size
        self.start, self.rotation = dict(start or {}), rotation
        self.interleave = interleave  # every rank reads the same stream and keeps samples pos = rank (mod world)
        self.max_pixels = max_pixels
        # data.jpeg_draft: decode large JPEGs at a reduced size, keeping twice the largest training crop
        sizes = [v.size for v in views.values() if isinstance(v, ImageView) and v.train]
        self.draft_side = 2 * max(sizes) if jpeg_draft and sizes else 0

    def _shards(self, slot: int, n_slots: int, read=lambda: 0) -> Iterator[dict]:
        """This reader's endless sequence of shards. `read()`: how many samples the reader has taken from them so
        far; when every shard of a pass (an epoch, or 10 draws per shard resampled) yields none, the shards are
        empty and the reader stops with a DataError instead of opening them forever."""
        idle, last = 0, read()

        def opened(url: str, limit: int) -> dict:
            nonlocal idle, last
            idle, last = (idle + 1 if read() == last else 1), read()
            if idle > limit:
                raise DataError(f"{limit} shard(s) in a row held no samples (e.g. {url}): the training shards are "
                                "empty (did `prepare` write any samples?)")
            return {"url": url}

        if self.resampled:
            rng = random.Random(f"{self.seed}/shards/{slot}")
            while True:
                yield opened(rng.choice(self.urls), 10 * len(self.urls))
        if len(self.urls) < n_slots:
            raise ValueError(f"{len(self.urls)} shards cannot feed {n_slots} readers (ranks x workers); use fewer "
                             "data workers, more shards, or data.resampled=true")
        epoch = 0
        while True:
            order = list(self.urls)
            random.Random(f"{self.seed}/epoch/{epoch}").shuffle(order)
            mine = order[slot::n_slots]
            yield from (opened(u, len(mine)) for u in mine)
            epoch += 1

    def __iter__(self) -> Iterator[tuple[dict, BatchMeta]]:
        info = get_worker_info()
        n_workers, wid = (info.num_workers, info.id) if info else (1, 0)
        local = (wid + self.rotation) % n_workers  # physical worker -> logical slot (exact resume mid-cycle)
        slot = self.rank * n_workers + local  # this reader: positions and skip counts are kept per slot
        # the stream it reads: its own shards, or (interleave) the stream of worker `local` in a one-rank run
        stream_slot, n_streams = (local, n_workers) if self.interleave else (slot, n_workers * self.world_size)
        skipped, tar_errors, failures, good = [0], [0], [0], [0]
        taken = [0]  # samples and tar errors read so far: an empty shard gives neither (_shards)

        def give_up(exn: Exception) -> None:  # a broken data set, not a few bad samples: stop loudly, never loop
            raise DataError(f"{failures[0]} consecutive samples or shards of {len(self.urls)} shard(s) failed to read "
                            f"(e.g. {self.urls[0]}); last error: {str(exn).strip().splitlines()[0][:200]}")

        def count(exn: Exception) -> bool:  # webdataset handler: unreadable tar data (a truncated or garbage
            tar_errors[0] += 1              # shard, a bad member) is skipped and counted; the samples after a
            taken[0] += 1                   # (an unreadable shard is not an empty one: its errors count as reads)
            failures[0] += 1                # cut cannot be counted, so read errors are reported on their own
            if tar_errors[0] <= 10 and good[0]:  # before any good sample a failure may be the whole data set:
                log.warning("skipping unreadable tar data: %s", exn)  # give_up's one line says it then
            if failures[0] >= MAX_CONSECUTIVE_FAILURES:
                give_up(exn)
            return True

        def counted(samples):
            for sample in samples:
                taken[0] += 1
                yield sample

        raw = counted(wds.tarfile_to_samples(handler=count)(self._shards(stream_slot, n_streams, lambda: taken[0])))
        if self.shuffle_buffer > 1:
            rng = random.Random(f"{self.seed}/buffer/{stream_slot}")
            raw = wds.shuffle(self.shuffle_buffer, self.shuffle_buffer, rng=rng)(raw)
        pos, batch = 0, []
        start = self.start.get(slot, 0)
        for sample in raw:
            pos += 1
            if pos <= start or (self.interleave and (pos - 1) % self.world_size != self.rank):
                continue
            try:
                decoded = decode_sample(sample, self.max_pixels, self.draft_side)
                views = self.builder(decoded, sample_seed(self.seed, stream_slot, pos))
            except Exception as exn:  # noqa: BLE001 - any failure of one sample (a decompression bomb, JSON nested
                # past the recursion limit, ...) is a counted skip; a run of them still stops the run below
                skipped[0] += 1
                failures[0] += 1
                if skipped[0] <= 10 and good[0]:
                    log.warning("skipping corrupt sample %s: %s", sample.get("__key__"), exn)
                if failures[0] >= MAX_CONSECUTIVE_FAILURES:
                    give_up(exn)
                continue
            failures[0], good[0] = 0, 1
            batch.append(views)
            if len(batch) == self.batch_size:
                out = {k: torch.stack([b[k] for b in batch]) for k in batch[0]}
                meta = BatchMeta(slot, pos, skipped[0], tar_errors[0])
                skipped[0], tar_errors[0], batch = 0, 0, []
                yield out, meta


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def make_loader(stream: ShardStream, workers: int) -> DataLoader:
    """A DataLoader over a ShardStream (batching happens in the stream; workers keep round-robin order)."""
    return DataLoader(stream, batch_size=None, num_workers=workers, worker_init_fn=_worker_init if workers else None,
                      persistent_workers=False, prefetch_factor=2 if workers else None)
