"""Each method's training step against CLIP's on the same encoders and batch, next to the ratio FLOPs predict;
the COSMOS data pipeline's throughput; on a GPU, samples/s and model FLOP utilisation of a ViT-B/16 step.

Step time: median over --steps after warm-up of one full optimisation step (forward, backward, AdamW, EMA) on a
synthetic batch shaped as the method's views. FLOPs: torch.utils.flop_counter over forward + backward of the same
step (matmuls and convolutions; the optimiser and EMA are bandwidth, not FLOPs). A measured ratio within 1.1x of
the FLOP ratio means no wasted work (teacher without grad, one encoder pass per crop resolution).

    python benchmarks/methods.py                         # tiny (ViT-Tiny-8-64, batch 64) + data throughput
    python benchmarks/methods.py --encoder ViT-B-16 --batch 128 --methods clip cosmos   # GPU, paper config
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from experiments import config as C  # noqa: E402
from methods import METHODS, build_method  # noqa: E402
from methods.data.views import AUGMENT_ON, random_batch  # noqa: E402
from methods.flops import count_flops  # noqa: E402
from methods.train import optimisation_step  # noqa: E402

# H100 SXM dense bf16 peak (NVIDIA datasheet): the MFU denominator on an H100; H200 has the same compute.
PEAK_BF16_FLOPS = 989e12


def method_config(name: str, scale: str, encoder: str):
    """The method's Config at `scale` (tiny sizes etc.), with the chosen encoder."""
    return C.resolve({"method": name, "scale": scale, "encoder": encoder}).method_config


def synthetic_batch(method, batch: int, device) -> dict:
    return {k: v.to(device) for k, v in random_batch(method.views, batch, method.encoders.context_length).items()}


def build_step(name: str, scale: str, encoder: str, batch: int, device, precision: str):
    torch.manual_seed(0)
    method = build_method(name, method_config(name, scale, encoder), encoder).to(device)
    opt = torch.optim.AdamW(method.param_groups(0.1), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    b = synthetic_batch(method, batch, device)

    def step():
        optimisation_step(method, method, b, opt, scaler, 1e-4, 0.0, precision, device)
        method.on_step_end(0, 100)
    return method, step


def time_steps(step, steps: int, device) -> float:
    times = []
    for i in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def step_table(names, scale, encoder, batch, steps, device, precision) -> list[dict]:
    """One row per method; the ratios are relative to the first (the baseline)."""
    rows = []
    for name in names:
        method, step = build_step(name, scale, encoder, batch, device, precision)
        flops = count_flops(method, synthetic_batch(method, batch, device), precision, device)
        sec = time_steps(step, steps, device)
        row = {"method": name, "step_ms": 1000 * sec, "gflops": flops / 1e9, "samples_per_s": batch / sec}
        if device.type == "cuda":
            row["mfu"] = flops / sec / PEAK_BF16_FLOPS
        rows.append(row)
        del method, step
    base = rows[0]
    for r in rows:
        r["time_ratio"], r["flop_ratio"] = r["step_ms"] / base["step_ms"], r["gflops"] / base["gflops"]
        r["time_over_flops"] = r["time_ratio"] / r["flop_ratio"]
    return rows


def data_throughput(seconds: float, augment: str, device, local_size: int = 96, global_size: int = 224,
                    scenes: str = "tiny", device_batch: int = 128, ops: str = "pil") -> dict:
    """COSMOS views at paper resolution (2x224 + 6x96 crops, DINO augmentations, text crops, tokenisation),
    built from decoded benchmark samples in this single-threaded process: samples/s per CPU core. With
    augment="device" the workers only crop, flip and draw parameters; the batched photometric ops are timed
    separately on `device` (batch `device_batch`), per sample."""
    import open_clip

    from methods.cosmos import COSMOSConfig
    from methods.data.on_device import to_device
    from methods.data.scenes import ensure_scenes, preset
    from methods.data.stream import decode_sample, read_all
    from methods.data.views import TextView, ViewBuilder
    from methods.multicrop import multicrop_views

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = ensure_scenes(preset(scenes), progress=False)
    samples = [decode_sample(s) for _, s in zip(range(200), read_all(sorted(map(str, (root / "val").glob("*.tar")))))]
    cfg = COSMOSConfig(local_size=local_size)
    views = multicrop_views(cfg, global_size, 16) | {
        "texts": TextView(cfg.caption, cfg.global_texts, cfg.local_texts, cfg.max_sentences)}
    builder = ViewBuilder(views, open_clip.get_tokenizer("ViT-B-16"), augment=augment, ops=ops)
    built, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        built.append(builder(samples[len(built) % len(samples)], len(built)))
    rate = len(built) / (time.perf_counter() - t0)
    torch.set_num_threads(threads)
    out = {"augment": augment, "view_ops": ops, "samples_per_s_per_core": rate,
           "views": {k: dataclasses.asdict(v) for k, v in views.items()}}
    if augment == "device":
        batch = {k: torch.stack([b[k] for b in built[:device_batch]]) for k in built[0]}
        sec = time_steps(lambda: to_device(batch, device), 3, device)
        out |= {"device": str(device), "device_ms_per_sample": 1000 * sec / len(batch["texts"])}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--encoder", default="ViT-Tiny-8-64")
    p.add_argument("--scale", default="tiny", help="scale whose method sizes apply (tiny / small / paper)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--baseline", default="clip", choices=list(METHODS), help="the method the ratios are relative to")
    p.add_argument("--data-seconds", type=float, default=20.0, help="0 skips the data-throughput benchmark")
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = "bf16" if device.type == "cuda" else "fp32"
    names = [args.baseline] + [m for m in args.methods if m != args.baseline]
    rows = step_table(names, args.scale, args.encoder, args.batch, args.steps, device, precision)
    print(f"{args.encoder}, batch {args.batch}, {device} {precision}, {torch.get_num_threads()} threads")
    for r in rows:
        extra = f", {r['samples_per_s']:.0f} samples/s, MFU {r['mfu']:.1%}" if "mfu" in r else ""
        print(f"  {r['method']:7s} {r['step_ms']:9.1f} ms  {r['gflops']:9.1f} GFLOP  time x{r['time_ratio']:.2f}  "
              f"FLOPs x{r['flop_ratio']:.2f}  time/FLOP ratio {r['time_over_flops']:.2f}{extra}")
    result = {"steps": rows}
    if args.data_seconds:
        result["data"] = [data_throughput(args.data_seconds, augment, device) for augment in AUGMENT_ON]
        for r in result["data"]:
            extra = (f"; photometric ops on {r['device']}: {r['device_ms_per_sample']:.2f} ms/sample"
                     if "device" in r else "")
            print(f"COSMOS data pipeline at 2x224 + 6x96, data.augment={r['augment']}: "
                  f"{r['samples_per_s_per_core']:.1f} samples/s/core{extra}")
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
