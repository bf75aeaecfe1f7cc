"""The paper path on a real accelerator, in one prepared run: CUDA tests, ViT-B/16 training steps of
every method at the recipes' per-GPU batches in bf16 and fp16 (samples/s, median step time, peak memory, model
FLOP utilisation), the batched photometric augmentations on the GPU, and a 100-step `scale=small` run end to end
with evaluation. Every stage records its result or its error and the run goes on, so one failure never costs
the rest of a short GPU slot; a time budget skips what would not fit. Writes OUT/summary.json and OUT/summary.md.

    bash benchmarks/gpu_check.sh OUT                         # any CUDA machine (installs carried wheels if needed)
    python benchmarks/gpu_check.py --cpu-smoke --out OUT     # the same stages at tiny sizes on a CPU, ~1-2 min

MFU = FLOPs of one step's forward + backward (torch's FlopCounterMode; optimiser and EMA are bandwidth) / step
time / the card's dense bf16 peak (989 TFLOP/s for H100 SXM and H200, NVIDIA's datasheets; fp16 has the same).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.methods import PEAK_BF16_FLOPS, data_throughput, time_steps  # noqa: E402
from methods import METHODS, build_method  # noqa: E402
from methods.data.views import random_batch  # noqa: E402
from methods.flops import count_flops  # noqa: E402
from methods.train import optimisation_step  # noqa: E402

# Paper configs (each Config's defaults are the paper's values) at ViT-B/16; the smoke mode shrinks them.
# field_sizes: Config field -> value, set in every method whose Config has that field.
# compiled: the methods also timed under torch.compile (inductor), at the first batch and precision only.
PAPER = {"encoder": "ViT-B-16", "batches": (64, 32), "precisions": ("bf16", "fp16"), "steps": 20, "field_sizes": {},
         "compiled": tuple(METHODS)}
SMOKE = {"encoder": "ViT-Micro-8-32", "batches": (4,), "precisions": ("fp32", "bf16"), "steps": 2,
         "compiled": ("clip",),
         "field_sizes": {"ssl_hidden": 64, "ssl_dim": 32, "local_size": 16, "local_crops": 2, "head_dim": 64,
                         "head_hidden": 64, "head_bottleneck": 32}}


def stage(results: dict, name: str, fn, deadline: float) -> None:
    """Run one stage, recording its value or its error and its time; skipped past the deadline."""
    t0 = time.time()
    if t0 > deadline:
        results[name] = {"ok": False, "skipped": "time budget spent"}
        return
    try:
        results[name] = {"ok": True, "value": fn()}
    except Exception as exn:  # a check records what broke and goes on with the next stage
        results[name] = {"ok": False, "error": f"{type(exn).__name__}: {exn}", "trace": traceback.format_exc()[-3000:]}
    results[name]["seconds"] = round(time.time() - t0, 1)
    print(f"[gpu_check] {name}: {'ok' if results[name]['ok'] else results[name].get('error')} "
          f"({results[name]['seconds']} s)", flush=True)


def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env |= {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}",
                "bf16": torch.cuda.is_bf16_supported()}
    return env


def cuda_tests() -> dict:
    """The tests that exercise CUDA paths (tests/test_cuda.py, marked `cuda`; skipped on a CPU)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests/test_cuda.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    if proc.returncode != 0:
        raise RuntimeError(f"pytest exit {proc.returncode}: {tail}\n{proc.stdout[-3000:]}")
    return {"summary": tail}


def step_row(name: str, sizes: dict, encoder: str, batch: int, precision: str, steps: int, device,
             compiled: bool = False) -> dict:
    """One method's training step at one per-GPU batch and precision (torch.compile'd with `compiled`; the
    compilation is paid in the warm-up steps): time, throughput, memory, FLOPs, MFU."""
    torch.manual_seed(0)
    fields = {f.name for f in dataclasses.fields(METHODS[name].Config)}
    cfg = METHODS[name].Config(**{k: v for k, v in sizes.items() if k in fields})
    method = build_method(name, cfg, encoder).to(device).train()
    model = torch.compile(method) if compiled else method
    opt = torch.optim.AdamW(method.param_groups(0.1), lr=1e-4, betas=(0.9, 0.98), eps=1e-8,
                            fused=True if device.type == "cuda" else None)  # as methods/train.py
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")
    b = {k: v.to(device) for k, v in random_batch(method.views, batch, method.encoders.context_length).items()}
    flops = count_flops(method, b, precision, device)

    def step():
        optimisation_step(method, model, b, opt, scaler, 1e-4, 0.0, precision, device, 0, 100)
        method.on_step_end(0, 100)

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    sec = time_steps(step, steps, device)
    row = {"method": name, "batch": batch, "precision": precision, "compiled": compiled,
           "step_ms": round(1000 * sec, 2),
           "samples_per_s": round(batch / sec, 1), "gflops_per_step": round(flops / 1e9, 1)}
    if device.type == "cuda":
        row |= {"peak_mem_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
                "mfu": round(flops / sec / PEAK_BF16_FLOPS, 4)}
    return row  # the model, optimiser and batch go with this frame; the next config empties the cache


def train_run(out: Path, smoke: bool) -> dict:
    """`train scale=small` for 100 steps end to end (data, training, evaluation, records) as a user runs it."""
    args = (["method=cosmos", "scale=tiny", "encoder=ViT-Micro-8-32", "data.scenes=test", "train.steps=3",
             "train.batch_size=8", "cosmos.local_size=16", "cosmos.local_crops=2", "eval.sets=retrieval/scenes"]
            if smoke else ["method=cosmos", "scale=small", "train.steps=100", "train.warmup=10", "train.batch_size=64",
                           "data.scenes=tiny", "train.ckpt_every=50"])
    t0 = time.time()
    proc = subprocess.run([sys.executable, "experiments/run.py", "train", *args, "--runs-dir", str(out / "runs")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1] if proc.stderr else ''}")
    run = json.loads((out / "runs" / "1" / "run.json").read_text())
    return {"args": args, "wall_s": round(time.time() - t0, 1), "status": run["status"],
            "result": {k: round(v, 2) for k, v in (run.get("result") or {}).items()}}


def markdown(results: dict) -> str:
    lines = ["# GPU check", "", f"Environment: `{json.dumps(results['environment'].get('value', {}))}`", ""]
    rows = [r for k, v in results.items() if k.startswith("step ") and v.get("ok") for r in [v["value"]]]
    if rows:
        lines += ["| method | per-GPU batch | precision | step ms | samples/s | GFLOP/step | peak GiB | MFU |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
            precision = r["precision"] + (" compiled" if r.get("compiled") else "")
            lines.append(f"| {r['method']} | {r['batch']} | {precision} | {r['step_ms']} | {r['samples_per_s']} "
                         f"| {r['gflops_per_step']} | {r.get('peak_mem_gib', '-')} | {mfu} |")
        lines.append("")
    for name, v in results.items():
        if name == "environment" or name.startswith("step "):
            continue
        shown = {k: x for k, x in v.get("value").items() if k != "views"} if v.get("ok") else None
        lines.append(f"- **{name}**: " + (json.dumps(shown, default=str)[:600] if v.get("ok")
                                          else v.get("error") or v.get("skipped", "")))
    failed = [k for k, v in results.items() if not v.get("ok")]
    lines += ["", f"Stages failed or skipped: {', '.join(failed) if failed else 'none'}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for summary.json, summary.md and the run")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on a CPU: tests the script itself")
    p.add_argument("--budget-s", type=float, default=480.0, help="skip stages that would start after this")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu_smoke else "cpu")
    if device.type == "cpu" and not args.cpu_smoke:
        print("error: no CUDA device; use --cpu-smoke to test the script on a CPU", file=sys.stderr)
        return 2
    spec = SMOKE if args.cpu_smoke else PAPER
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + args.budget_s
    results: dict = {}
    stage(results, "environment", lambda: environment(device), deadline)
    stage(results, "cuda tests", cuda_tests, deadline)
    for batch in spec["batches"]:
        for precision in spec["precisions"]:
            for name in args.methods:
                stage(results, f"step {name} b{batch} {precision}",
                      lambda n=name, b=batch, pr=precision: step_row(n, spec["field_sizes"], spec["encoder"], b, pr,
                                                                      spec["steps"], device), deadline)
    for name in spec["compiled"]:
        if name in args.methods:
            b, pr = spec["batches"][0], spec["precisions"][-1]
            stage(results, f"step {name} b{b} {pr} compiled",
                  lambda n=name, b=b, pr=pr: step_row(n, spec["field_sizes"], spec["encoder"], b, pr, spec["steps"],
                                                      device, compiled=True), deadline)
    stage(results, "augment=device", lambda: data_throughput(
        1.0 if args.cpu_smoke else 5.0, "device", device, scenes="test" if args.cpu_smoke else "tiny",
        device_batch=4 if args.cpu_smoke else 128, ops="exact"), deadline)
    stage(results, "train end to end", lambda: train_run(args.out, args.cpu_smoke), deadline + 120)
    (args.out / "summary.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "summary.md").write_text(markdown(results))
    print((args.out / "summary.md").read_text())
    return 0 if all(v.get("ok") for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
