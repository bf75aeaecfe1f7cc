"""What data.jpeg_draft costs in pixels and saves in decoding, on large synthetic JPEGs.

A source whose shorter side is at least twice 2 x the largest crop (COSMOS: 2 x 224) is decoded by the JPEG
decoder's DCT scaling at the largest of 1/2, 1/4, 1/8 that keeps that side >= 448 (methods.data.stream.
decode_sample). Pixel effect: COSMOS's crop boxes (2 global 224-px, scale 0.4-1; 6 local 96-px, scale 0.05-0.4)
drawn on the whole image, each resized (bicubic) from the whole decode and from the same region of the reduced
decode (a float box, so only the decoding differs); |difference| in grey levels. Two kinds of source, 1536 x 1152
JPEGs at quality 90: "noisy" (the photo-like pattern with per-pixel noise at full resolution: the worst case for a
reduced decode) and "smooth" (the 512 x 384 photo upscaled, as a photo whose detail is coarser than its pixels).
Speed: decoding (open, draft, load, RGB) of the same files, and decoding + COSMOS's views (the default pil path,
whose crops get cheaper on a smaller source), whole and reduced alternated in one process, median time per image
over the rounds: ratios measured side by side.

    python benchmarks/jpeg_draft.py [--images 16] [--out benchmarks/results/jpeg_draft.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))

from data_path import our_builder, records  # noqa: E402
from paper_scale import photo  # noqa: E402

from methods.data.stream import decode_sample  # noqa: E402

SIZE = (1536, 1152)
CROPS = ((224, (0.4, 1.0), 2), (96, (0.05, 0.4), 6))


def noisy(seed: int) -> Image.Image:
    return photo(seed, SIZE)


def smooth(seed: int) -> Image.Image:
    return photo(seed).resize(SIZE, Image.Resampling.BICUBIC)


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def difference(raw: bytes, seed: int) -> np.ndarray:
    whole = decode_sample({"jpg": raw, "txt": b"a"})["image"]
    small = decode_sample({"jpg": raw, "txt": b"a"}, draft_side=448)["image"]
    s = whole.width / small.width
    torch.manual_seed(seed)
    out = []
    for size, scale, n in CROPS:
        for _ in range(n):
            i, j, h, w = T.RandomResizedCrop.get_params(whole, scale, (3 / 4, 4 / 3))
            a = whole.resize((size, size), Image.Resampling.BICUBIC, box=(j, i, j + w, i + h))
            b = small.resize((size, size), Image.Resampling.BICUBIC, box=(j / s, i / s, (j + w) / s, (i + h) / s))
            out.append(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).ravel())
    return np.concatenate(out)


def decode_ms(raws: list[bytes], draft_side: int, build=None) -> float:
    record = records(1)[0]
    t0 = time.perf_counter()
    for i, raw in enumerate(raws):
        image = decode_sample({"jpg": raw, "txt": b"a"}, draft_side=draft_side)["image"]
        if build is not None:
            build(image, record, i, "views")
    return 1000 * (time.perf_counter() - t0) / len(raws)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = {"size": SIZE, "quality": 90}
    for kind, make in (("noisy", noisy), ("smooth", smooth)):
        raws = [jpeg(make(i)) for i in range(args.images)]
        d = np.concatenate([difference(raw, i) for i, raw in enumerate(raws)])
        build = our_builder("pil/workers")
        times = {(side, views): [] for side in (0, 448) for views in (False, True)}
        for _ in range(args.rounds):
            for side, views in times:
                times[side, views].append(decode_ms(raws, side, build if views else None))
        draft = decode_sample({"jpg": raws[0], "txt": b"a"}, draft_side=448)["image"].size
        result[kind] = {"decoded_size": draft, "equal": float((d == 0).mean()), "over_1": float((d > 1).mean()),
                        "over_8": float((d > 8).mean()), "mean": float(d.mean()), "max": int(d.max()),
                        "decode_whole_ms": statistics.median(times[0, False]),
                        "decode_draft_ms": statistics.median(times[448, False]),
                        "with_views_whole_ms": statistics.median(times[0, True]),
                        "with_views_draft_ms": statistics.median(times[448, True])}
        print(kind, json.dumps(result[kind]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
