"""Our CLIP training step vs a bare open_clip model + ClipLoss + AdamW step, same config and batch.

Paired: both steps alternate in one process for --steps iterations after warm-up; the median step-time ratio is
ours / bare. Peak memory: on CUDA torch.cuda.max_memory_allocated per variant; on CPU the peak RSS of a fresh
subprocess running only that variant, above its RSS once model and batch are built (Linux only).

    python benchmarks/step_time.py                      # tiny config (ViT-Tiny-8-64, batch 64) and ViT-B-16 batch 8
    python benchmarks/step_time.py --config ViT-B-16:8  # one config
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import open_clip  # noqa: E402
import torch  # noqa: E402
from open_clip.loss import ClipLoss  # noqa: E402

from methods import build_method  # noqa: E402
from methods.clip import CLIPConfig  # noqa: E402
from methods.train import autocast_context, optimisation_step  # noqa: E402


def make_batch(enc_name: str, batch: int, device):
    m = open_clip.get_model_config(enc_name)
    size, ctx = m["vision_cfg"]["image_size"], m["text_cfg"].get("context_length", 77)
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, 49000, (batch, ctx), generator=g)
    text[:, -1] = 49407
    return {"image": torch.randn(batch, 3, size, size, generator=g).to(device), "text": text.to(device)}


def ours(enc_name: str, device, precision: str):
    torch.manual_seed(0)
    method = build_method("clip", CLIPConfig(), enc_name).to(device)  # ours, against open_clip's own CLIP step
    opt = torch.optim.AdamW(method.param_groups(0.1), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    scaler = torch.amp.GradScaler("cuda", enabled=False)

    def step(batch):
        optimisation_step(method, method, batch, opt, scaler, 1e-4, 0.0, precision, device)
    return step


def bare(enc_name: str, device, precision: str):
    torch.manual_seed(0)
    model = open_clip.create_model(enc_name, pretrained=None, pretrained_text=False).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "logit_scale" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "logit_scale" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    loss_fn = ClipLoss()

    def step(batch):
        with autocast_context(precision, device):
            img = model.encode_image(batch["image"], normalize=True)
            txt = model.encode_text(batch["text"], normalize=True)
            loss = loss_fn(img, txt, model.logit_scale.exp())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, 4.6052)
    return step


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def paired(enc_name: str, batch: int, steps: int, device, precision: str) -> dict:
    b = make_batch(enc_name, batch, device)
    fns = {"ours": ours(enc_name, device, precision), "bare": bare(enc_name, device, precision)}
    times = {k: [] for k in fns}
    for i in range(steps + 3):
        for name, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            fn(b)
            _sync(device)
            if i >= 3:
                times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"config": f"{enc_name} batch {batch}", "device": str(device), "precision": precision,
            "ours_ms": 1000 * med["ours"], "bare_ms": 1000 * med["bare"], "ratio": med["ours"] / med["bare"],
            "ratios_per_pair": [round(a / b, 3) for a, b in zip(times["ours"], times["bare"])]}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def step_peak_mb(fn, batch) -> float:
    """Peak RSS growth over 3 steps above the RSS after building model and batch (Linux: VmHWM reset via
    /proc/self/clear_refs), i.e. activations, gradients and optimiser state, without the import baseline."""
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kb("VmRSS")
    for _ in range(3):
        fn(batch)
    return (_status_kb("VmHWM") - base) / 1024


def peak_memory_mb(variant: str, enc_name: str, batch: int, device, precision: str) -> float:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        fn = (ours if variant == "ours" else bare)(enc_name, device, precision)
        b = make_batch(enc_name, batch, device)
        for _ in range(3):
            fn(b)
        return torch.cuda.max_memory_allocated() / 2**20
    code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import step_time as s, torch; torch.set_num_threads({torch.get_num_threads()}); "
            f"b = s.make_batch({enc_name!r}, {batch}, torch.device('cpu')); "
            f"fn = s.{variant}({enc_name!r}, torch.device('cpu'), 'fp32'); print(s.step_peak_mb(fn, b))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", action="append", help="ENCODER:BATCH (default: ViT-Tiny-8-64:64 and ViT-B-16:8)")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--precision", default="auto", help="auto = bf16 on CUDA, fp32 on CPU")
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = args.precision if args.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    results = []
    for spec in args.config or ["ViT-Tiny-8-64:64", "ViT-B-16:8"]:
        enc, batch = spec.split(":")
        r = paired(enc, int(batch), args.steps, device, precision)
        r["peak_mb"] = {v: round(peak_memory_mb(v, enc, int(batch), device, precision), 1) for v in ("ours", "bare")}
        results.append(r)
        print(f"{r['config']:28s} {r['device']:5s} {precision}: ours {r['ours_ms']:.1f} ms, bare {r['bare_ms']:.1f} ms,"
              f" median ratio {r['ratio']:.3f}; peak MB ours {r['peak_mb']['ours']} / bare {r['peak_mb']['bare']}")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
