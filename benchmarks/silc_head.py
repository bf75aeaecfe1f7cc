"""Does SiLC's DINO head learn at tiny scale? Trains SiLC at the budget study's tiny settings (benchmark v4 by
default, the one docs/findings.md quotes; --benchmark v5 for the default tiny profile; ViT-Tiny-16-64, batch 32, lr 3e-4, head K=1024) for --steps steps under each variant and prints, from the run's
logged metrics, the distillation loss, the teacher targets' mean entropy and their KL from the batch-mean target
(methods.losses.dino_health; ln K = 6.93 nats is a uniform target, a head that says nothing).

A variant changes one thing: the teacher temperature, the EMA horizon rule, the learning rate, the head's
output size, the local crops (none, or 4x4 tokens on patch-8 towers), the photometric views. Each run is an ordinary `run.py train` (recorded under --runs-dir, no evaluation).

    python benchmarks/silc_head.py [--steps 300] [--variants base sharp ...] [--jobs 2] [--benchmark v4]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = {"method": "silc", "scale": "tiny", "seed": "0", "train.eval_every": "0", "eval.sets": "[]",
        "train.ckpt_every": "100000"}
VARIANTS = {
    "base": {},  # the budget study's SiLC (teacher_temp 0.04, lr 3e-4, K 1024; on v4 momentum 0.99, v5 the horizon)
    "sharp": {"silc.teacher_temp": "0.02"},  # a sharper teacher
    "horizon": {"silc.ema_horizon": repr(1 / (1 - 0.999) / 88_576)},  # modules.OFFICIAL_EMA_HORIZON
    "lr1e-3": {"train.lr": "1e-3"},
    "k256": {"silc.head_dim": "256"},
    "no-local": {"silc.local_crops": "0"},  # global-to-global distillation only (no 2x2-token local crops)
    "gentle": {"silc.views": "gentle"},  # no flip, colour jitter, grayscale or solarize; scaled blur
    "patch8": {"encoder": "ViT-Tiny-8-64", "silc.local_size": "0"},  # 4x4-token local crops (the ruled towers)
}


def run(name: str, overrides: dict, steps: int, runs_dir: Path, threads: int, benchmark: str = "v4") -> dict:
    out = runs_dir / benchmark / name
    given = BASE | {"benchmark": benchmark, "train.steps": str(steps), "train.log_every": "10"} | overrides
    args = [sys.executable, str(ROOT / "experiments" / "run.py"), "train", "--runs-dir", str(out),
            *(f"{k}={v}" for k, v in given.items())]
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{name}: {proc.stderr.strip().splitlines()[-1]}")
    runs = sorted((p for p in out.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    metrics = json.loads((runs[-1] / "metrics.json").read_text())
    return {k.split("/", 1)[1]: metrics[k] for k in metrics if k.startswith("train/")}


def summary(name: str, m: dict) -> list[str]:
    rows = []
    steps = m["distill_loss"]["steps"]
    for i in range(0, len(steps), max(1, len(steps) // 6)):
        rows.append(f"| {name} | {steps[i]} | {m['distill_loss']['values'][i]:.2f} | "
                    f"{m['teacher_entropy']['values'][i]:.2f} | {m['teacher_kl']['values'][i]:.2f} | "
                    f"{m['clip_loss']['values'][i]:.2f} |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--variants", nargs="*", default=["base", "sharp", "horizon", "lr1e-3"], choices=list(VARIANTS))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs-dir", type=Path, default=Path("/tmp/silc-head"))
    p.add_argument("--benchmark", default="v4", choices=["v4", "v5"], help="the tiny benchmark version (v4: the "
                   "runs docs/findings.md quotes)")
    args = p.parse_args()
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        futures = {v: pool.submit(run, v, VARIANTS[v], args.steps, args.runs_dir, threads, args.benchmark)
                   for v in args.variants}
        results = {v: f.result() for v, f in futures.items()}
    print(f"SiLC at tiny ({args.benchmark}), {args.steps} steps (ln K = {math.log(1024):.2f} for K = 1024):")
    print("| variant | step | distill loss | teacher entropy | teacher KL | CLIP loss |\n|---|---|---|---|---|---|")
    for v, m in results.items():
        print("\n".join(summary(v, m)))


if __name__ == "__main__":
    main()
