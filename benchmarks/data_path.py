"""The COSMOS data path per CPU core, side by side with the official pipeline.

Both sides build COSMOS's CC3M training views of the same samples, one after another, on one thread each:
2 global 224-px + 6 local 96-px DINO crops (crop split 0.4) and 8 text crops (2 global of 1-5 sentences, 6 single
sentences) tokenised to 77 ids.
- official: the COSMOS repository's own `DataAugmentationMulticrop` and `sample_dict(..., 'textcrop')` with its
  tokenizer, imported from a local checkout (`--official`, its src/ folder; never vendored, never downloaded), in
  processes of their own (the fork shares open_clip's package name); images decoded as webdataset's "pilrgb".
- ours: `ViewBuilder` with COSMOS's views, for each `data.view_ops` (pil / exact / fast) and `data.augment`
  (workers; device, where the workers only crop, flip and draw the photometric parameters and the training device
  applies them to the batch: that device time is not in these CPU figures).
Samples: 64 photo-like 512 x 384 JPEGs (quality 90) with caption records of CC3M's recaptioned shape (an alt-text,
3 short captions, 3 long captions of 4-6 sentences; every sentence new), the same for both sides. Rows: views and
texts from a decoded image; the same with JPEG decoding included; the text side alone. Each round runs every
variant once in a fresh process (rotating the order), `--seconds` each after a warm-up; a ratio is a variant's
samples/s over the official's of the same round; the table gives medians over `--rounds` rounds. Run it with
nothing else on the machine. `--pixels` (no timing) measures how far view_ops=fast lands from the PIL path on the
same samples and seeds: the resize alone (each crop box of 4 seeds per sample, both crop sizes) and whole views.

    python benchmarks/data_path.py --official /path/to/cosmos/src [--rounds 5] [--seconds 8] [--out FILE]
    python benchmarks/data_path.py --official /path/to/cosmos/src --parts --pixels --out FILE
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = [f"{ops}/{augment}" for augment in ("workers", "device") for ops in ("pil", "exact", "fast")]
N_SAMPLES = 64
WORDS = ("a the dog cat man woman child red blue green small large wooden old young sits stands runs near on in "
         "under beside holding wearing street park table window grass water sky building car bicycle tree light "
         "shadow bright dark white black yellow two three several people group background foreground scene "
         "photo image shows appears view corner wall floor road river beach mountain snow field").split()


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join([words[0].capitalize(), *words[1:]])


def records(n: int = N_SAMPLES) -> list[dict]:
    """Caption records in the official layout (DreamLIP / FLAIR fields, each a list of sentences)."""
    out = []
    for i in range(n):
        rng = random.Random(i)
        long_ = [[sentence(rng, rng.randint(10, 20)) for _ in range(rng.randint(4, 6))] for _ in range(3)]
        out.append({"raw_caption": [sentence(rng, rng.randint(6, 14))],
                    "shortIB_captions": [sentence(rng, rng.randint(8, 16))],
                    "shortSV_captions": [sentence(rng, rng.randint(8, 16))],
                    "shortLLA_captions": [sentence(rng, rng.randint(8, 16))],
                    "longIB_captions": long_[0], "longSV_captions": long_[1], "longLLA_captions": long_[2]})
    return out


def jpegs(n: int = N_SAMPLES) -> list[bytes]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper_scale import photo

    out = []
    for i in range(n):
        buf = io.BytesIO()
        photo(i).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def official_builder(src: Path):
    sys.path.insert(0, str(src.resolve()))
    import open_clip  # the official fork
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from open_clip.transform import DataAugmentationMulticrop
    from training.data import sample_dict

    assert Path(open_clip.__file__).resolve().is_relative_to(src.resolve()), open_clip.__file__
    augment = DataAugmentationMulticrop(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD, 224, 6, 2, 0.4)
    tokenizer = open_clip.get_tokenizer("ViT-B-16")

    def build(image, record, seed, part):
        texts = sample_dict(record, k=8, tokenizer=tokenizer, sampling_mode="textcrop")
        return texts if part == "text" else (augment(image), texts)
    return build


def our_builder(variant: str):
    sys.path.insert(0, str(ROOT))
    import open_clip

    from methods.cosmos import COSMOSConfig
    from methods.data.text import normalise_record
    from methods.data.views import TextView, ViewBuilder
    from methods.multicrop import multicrop_views

    ops, augment = variant.split("/")
    cfg = COSMOSConfig(local_size=96, crop_split=0.4)
    views = multicrop_views(cfg, 224, 16) | {"texts": TextView(cfg.caption, cfg.global_texts, cfg.local_texts,
                                                               cfg.max_sentences)}
    full = ViewBuilder(views, open_clip.get_tokenizer("ViT-B-16"), augment=augment, ops=ops)
    text = ViewBuilder({"texts": views["texts"]}, open_clip.get_tokenizer("ViT-B-16"), ops=ops)

    def build(image, record, seed, part):
        return (text if part == "text" else full)({"image": image, "captions": normalise_record(record)}, seed)
    return build


def child(args) -> None:
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    build = official_builder(args.official) if args.variant == "official" else our_builder(args.variant)
    recs, data = records(), jpegs()

    def decode(raw: bytes):  # webdataset's "pilrgb" / the suite's decode_sample
        img = Image.open(io.BytesIO(raw))
        img.load()
        return img.convert("RGB")
    decoded = [decode(d) for d in data]
    for i in range(10):  # warm-up: first calls, tables, caches of the tokenizers' BPE
        build(decoded[i], recs[i], i, args.part)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        i = n % N_SAMPLES
        image = decode(data[i]) if args.part == "decode" else decoded[i]
        build(image, recs[i], 1000 + n, args.part)
        n += 1
    print(json.dumps({"samples_per_s": n / (time.perf_counter() - t0)}))


def pixel_difference() -> dict:
    """view_ops=fast against the PIL path on the benchmark's samples: |difference| in grey levels."""
    import numpy as np
    import torch
    from PIL import Image
    from torchvision import transforms as T

    sys.path.insert(0, str(ROOT))
    from methods.data import fast_ops

    images = [Image.open(io.BytesIO(d)).convert("RGB") for d in jpegs()]
    resize = []
    for i, image in enumerate(images):
        src = fast_ops.Source(image)
        for seed in range(4):
            for size, scale in ((224, (0.4, 1.0)), (96, (0.05, 0.4))):
                mode = T.InterpolationMode.BICUBIC
                torch.manual_seed(seed * 1000 + i)
                a = T.RandomResizedCrop(size, scale=scale, interpolation=mode)(image)
                torch.manual_seed(seed * 1000 + i)
                b = fast_ops.ResizedCrop(size, scale=scale, interpolation=mode, tensor=True)(src)
                resize.append(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).ravel())
    pil, fast = our_builder("pil/workers"), our_builder("fast/workers")
    recs, views = records(), []
    for i, image in enumerate(images):
        a, b = pil(image, recs[i], i, "views"), fast(image, recs[i], i, "views")
        views += [(a[k].short() - b[k].short()).abs().flatten().numpy() for k in a if a[k].dtype == torch.uint8]

    def summary(parts):
        d = np.concatenate(parts)
        return {"values": int(d.size), "equal": float((d == 0).mean()), "over_1": float((d > 1).mean()),
                "mean": float(d.mean()), "max": int(d.max())}
    return {"resize": summary(resize), "views": summary(views)}


def run_one(official: Path, variant: str, part: str, seconds: float) -> float:
    cmd = [sys.executable, __file__, "--child", variant, "--part", part, "--seconds", str(seconds),
           "--official", str(official)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        sys.exit(f"error: {variant} ({part}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


PARTS = {"views": OURS, "decode": ["pil/workers", "fast/workers", "fast/device"], "text": ["pil/workers",
                                                                                           "exact/workers"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--official", type=Path, required=True, help="the COSMOS repository's src/ folder")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--parts", nargs="*", default=list(PARTS), choices=list(PARTS))
    ap.add_argument("--pixels", action="store_true", help="also measure view_ops=fast's pixel difference")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="views", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (args.official / "open_clip" / "transform.py").exists() or not (args.official / "training").is_dir():
        sys.exit(f"error: {args.official} is not the official COSMOS src/ folder (no open_clip/transform.py)")
    if args.child:
        args.variant = args.child
        return child(args)
    result = {"rounds": args.rounds, "seconds": args.seconds, "cpu": cpu_name(), "rows": []}
    for part in args.parts:
        variants = ["official", *PARTS[part]]
        rates = {v: [] for v in variants}
        for r in range(args.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                rates[v].append(run_one(args.official, v, part, args.seconds))
            print(f"{part} round {r + 1}: " + ", ".join(f"{v} {rates[v][-1]:.1f}" for v in variants), flush=True)
        for v in variants[1:]:
            ratios = [a / b for a, b in zip(rates[v], rates["official"])]
            result["rows"].append({"part": part, "variant": v, "official_per_s": statistics.median(rates["official"]),
                                   "ours_per_s": statistics.median(rates[v]), "ratio": statistics.median(ratios),
                                   "ratio_min": min(ratios), "ratio_max": max(ratios)})
    if args.pixels:
        result["fast_vs_pil_pixels"] = pixel_difference()
        print(json.dumps(result["fast_vs_pil_pixels"]))
    print(markdown(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


def cpu_name() -> str:
    path = Path("/proc/cpuinfo")
    lines = path.read_text().splitlines() if path.exists() else []
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "?")


def markdown(result: dict) -> str:
    what = {"views": "views + texts", "decode": "JPEG decode + views + texts", "text": "texts only"}
    lines = ["| row | ours (view_ops / augment) | official samples/s | ours samples/s | ratio (median, min-max) |",
             "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {what[r['part']]} | {r['variant']} | {r['official_per_s']:.1f} | {r['ours_per_s']:.1f} | "
                     f"{r['ratio']:.2f}x ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
