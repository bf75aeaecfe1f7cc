"""A throughput model of every method at its paper recipe: the FLOPs a sample costs a GPU, the samples one CPU core
builds, and the cores per GPU that keep a step at a given MFU fed.

Per method at `recipe=cc3m` (ViT-B/16, the recipe's per-GPU batch):
- training FLOPs per sample: torch's FlopCounterMode over one forward + backward of the method on the meta device
  (shapes only: nothing is computed or allocated; every view, the teacher's forward included);
- views per second on one core: the method's own view builder (crops, augmentations, text views, tokenisation) on
  one decoded 512 x 384 image with CC3M-shaped recaptioned records (64, every sentence new), in this process with
  one torch thread; and with the JPEG decoding of that image (quality 90) added, as a worker pays it; `--setup`
  names the workers' data.view_ops/data.augment (default pil/workers; exact/device leaves the photometric ops to
  the GPU, whose time is not counted);
- the samples/s a GPU consumes at `--mfu` of the dense bf16 peak (989 TFLOP/s for H100 SXM and H200: NVIDIA's
  datasheets), and the cores that feed it: consumed / per-core rate.
Timings are only meaningful with nothing else running on the machine (the README's rule); the FLOPs do not depend
on the machine.

Command: python benchmarks/paper_scale.py [--seconds 10] [--mfu 0.4] [--setup exact/device] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from data_path import records  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from experiments import config as C  # noqa: E402
from methods import METHODS  # noqa: E402
from methods.data.text import normalise_record  # noqa: E402
from methods.data.views import ViewBuilder, random_batch  # noqa: E402
from methods.encoders import build_encoders  # noqa: E402

PEAK_BF16_FLOPS = {"H100 SXM": 989e12, "H200": 989e12}  # dense bf16, NVIDIA's datasheets
RECORDS = [normalise_record(r) for r in records()]  # CC3M-shaped recaptions, every sentence new (data_path.py)


def meta_method(name: str, recipe: str):
    rc = C.resolve({"method": name, "scale": "paper", "recipe": recipe})
    cls = METHODS[name]
    with torch.device("meta"):
        enc = build_encoders(rc.encoder, rc.context_length, rc.text_act, rc.image_norm, device="meta",
                             **cls.encoder_options(rc.method_config))
        method = cls(rc.method_config, enc).train()
    return rc, method


def flops_per_sample(method, batch: int) -> float:
    with torch.device("meta"):
        b = random_batch(method.views, batch, method.encoders.context_length)
    b = {k: v.to("meta") for k, v in b.items()}
    with FlopCounterMode(display=False) as counter:
        method(b)["loss"].backward()
    return counter.get_total_flops() / batch


def photo(seed: int = 0, size: tuple[int, int] = (512, 384)) -> Image.Image:
    """An image with photo-like smooth structure and per-pixel noise (what JPEG decoding and the crops see); the
    structure scales with the size (512 x 384 by default)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]] * (512 / size[0])
    base = np.stack([128 + 100 * np.sin(x / (40 + 10 * c) + y / (55 + 7 * c) + c) for c in range(3)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def views_per_second(method, seconds: float, image: Image.Image, jpeg: bytes | None, setup: str) -> float:
    ops, augment = setup.split("/")
    builder = ViewBuilder(method.views, method.encoders.tokenizer(), augment=augment, ops=ops)
    builder({"image": image, "captions": RECORDS[0]}, 0)  # warm-up (tables, first calls)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        img = Image.open(io.BytesIO(jpeg)).convert("RGB") if jpeg is not None else image
        builder({"image": img, "captions": RECORDS[n % len(RECORDS)]}, n)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default="cc3m")
    ap.add_argument("--seconds", type=float, default=10.0, help="timing per method and row")
    ap.add_argument("--mfu", type=float, default=0.4)
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--setup", default="pil/workers", help="data.view_ops/data.augment of the workers timed")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    image = photo()
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    rows = []
    for name in args.methods:
        rc, method = meta_method(name, args.recipe)
        per_gpu = rc.train.batch_size // 16 if args.recipe == "cc3m" else rc.train.batch_size
        fps = flops_per_sample(method, per_gpu)
        bare, decoded = (views_per_second(method, args.seconds, image, j, args.setup) for j in (None, buf.getvalue()))
        row = {"method": name, "encoder": rc.encoder, "per_gpu_batch": per_gpu, "gflops_per_sample": fps / 1e9,
               "views_per_s_per_core": bare, "with_decode_per_s_per_core": decoded}
        for card, peak in PEAK_BF16_FLOPS.items():
            consumed = args.mfu * peak / fps
            row[f"{card}: samples/s at {args.mfu:.0%} MFU"] = consumed
            row[f"{card}: cores per GPU"] = consumed / decoded
        rows.append(row)
        print(json.dumps(row), flush=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "?") if Path("/proc/cpuinfo").exists() else "?"
    result = {"recipe": args.recipe, "mfu": args.mfu, "setup": args.setup, "cpu": cpu, "torch": torch.__version__,
              "rows": rows}
    print(markdown(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


def markdown(result: dict) -> str:
    mfu = result["mfu"]
    lines = [f"| method | GFLOP / sample | views/s per core | + JPEG decode | H100/H200 samples/s at {mfu:.0%} MFU "
             f"| cores per GPU |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['method']} | {r['gflops_per_sample']:.1f} | {r['views_per_s_per_core']:.1f} | "
                     f"{r['with_decode_per_s_per_core']:.1f} | {r[f'H200: samples/s at {mfu:.0%} MFU']:.0f} | "
                     f"{r['H200: cores per GPU']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
