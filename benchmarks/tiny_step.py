"""Cheaper tiny encoders, judged by what matters: the benchmark metric a method reaches per CPU-second.

For each candidate encoder (width, depth, text context, image size, patch size) and method, the suite's own
pipeline (shards, views, loop, evaluators) trains for the number of steps that fits `--seconds` of training on
this CPU (measured on a short calibration run), then evaluates on the benchmark's test split. It prints, per
candidate: steps, samples, train seconds, evaluation seconds, and the metrics (retrieval R@1 both ways,
zero-shot top-1, SugarCrepe-style mean, MMVP-style mean). One seed: a screening, not a verdict.

    python benchmarks/tiny_step.py                          # every candidate, CLIP and COSMOS, 60 s of training
    python benchmarks/tiny_step.py --seconds 20 --candidates tiny-8-64 micro-8-32 --methods clip   # quick look
    python benchmarks/tiny_step.py --per-step --candidates patch16-64 --set data.augment=workers   # step cost only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import open_clip  # noqa: E402
import torch  # noqa: E402

from experiments import config as C  # noqa: E402
from experiments.experiment import train_urls  # noqa: E402
from experiments.comparison import COMPARISON_EVALS  # noqa: E402
from methods import build_method  # noqa: E402
from methods.evals import evaluate  # noqa: E402
from methods.train import train  # noqa: E402


def _cfg(image: int, patch: int, width: int, layers: int, text_width: int, text_layers: int, ctx: int) -> dict:
    return {"embed_dim": width, "vision_cfg": {"image_size": image, "layers": layers, "width": width,
                                               "head_width": 32, "patch_size": patch},
            "text_cfg": {"context_length": ctx, "vocab_size": 49408, "width": text_width, "heads": 2,
                         "layers": text_layers}}


# name -> open_clip config. tiny-8-64 is today's ViT-Tiny-8-64; the others change one or two axes from it.
CANDIDATES = {
    "tiny-8-64": _cfg(64, 8, 128, 4, 128, 2, 32),
    "narrow-8-64": _cfg(64, 8, 64, 4, 64, 2, 32),
    "shallow-8-64": _cfg(64, 8, 128, 2, 128, 1, 32),
    "patch16-64": _cfg(64, 16, 128, 4, 128, 2, 32),  # = ViT-Tiny-16-64, the tiny profile
    "img32-8": _cfg(32, 8, 128, 4, 128, 2, 32),
    "ctx24-8-64": _cfg(64, 8, 128, 4, 128, 2, 24),
    "micro-8-32": _cfg(32, 8, 64, 2, 64, 2, 24),
}
METRICS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
           "classification/scenes/top1": "top-1", "compositional/scenes/mean": "SC-avg",
           "perception/scenes/mean": "MMVP-avg"}


class _Quiet:
    def scalar(self, *a):
        pass

    def info(self, *a):
        pass


def register(folder: Path) -> None:
    for name, cfg in CANDIDATES.items():
        (folder / f"Bench-{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


def run(method: str, candidate: str, seconds: float, seed: int = 0, sets: dict | None = None,
        per_step_only: bool = False) -> dict:
    encoder = f"Bench-{candidate}"
    local = CANDIDATES[candidate]["vision_cfg"]["image_size"] // 2  # 96/224 of the global size, on the patch grid
    local -= local % CANDIDATES[candidate]["vision_cfg"]["patch_size"]
    extra = {f"{method}.local_size": max(local, CANDIDATES[candidate]["vision_cfg"]["patch_size"])} \
        if "local_size" in C.defaults(method)[method] else {}  # multi-crop methods
    extra |= sets or {}

    def resolved(steps: int) -> C.RunConfig:
        return C.resolve({"method": method, "scale": "tiny", "encoder": encoder, "seed": seed,
                          "train.steps": steps, "train.warmup": max(1, steps // 10), "train.ckpt_every": 10**6,
                          **extra})

    def fit(steps: int, ckpt: Path):
        cfg = resolved(steps)
        torch.manual_seed(seed)
        m = build_method(method, cfg.method_config, encoder, cfg.context_length)
        urls, scenes = train_urls(cfg)
        t0 = time.perf_counter()
        train(m, urls, cfg.train, cfg.data, seed=seed, ckpt_dir=ckpt, logger=_Quiet(),
              evaluate=None, progress=False)
        return m, cfg, scenes, time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:  # per-step cost from two short runs (the stream's start is fixed)
        t_short, t_long = fit(5, Path(tmp) / "a")[3], fit(25, Path(tmp) / "b")[3]
        per_step = max((t_long - t_short) / 20, 1e-3)
        if per_step_only:
            return {"method": method, "candidate": candidate, "set": sets or {}, "ms_per_step": round(1000 * per_step)}
        steps = max(10, int((seconds - (t_short - 5 * per_step)) / per_step))
        m, cfg, scenes, sec = fit(steps, Path(tmp) / "run")
    m.eval()
    metrics, eval_s = {}, {}
    for spec in cfg.eval.sets:  # each evaluation timed on its own: its share of a run's cost
        t0 = time.perf_counter()
        metrics |= evaluate(m, dataclasses.replace(cfg.eval, sets=(spec,)), scenes)
        eval_s[spec.split("/")[0]] = round(time.perf_counter() - t0, 1)
    return {"method": method, "candidate": candidate, "steps": steps, "samples": steps * cfg.train.batch_size,
            "ms_per_step": round(1000 * per_step), "train_s": round(sec, 1), "eval_s": round(sum(eval_s.values()), 1),
            "eval_s_by_task": eval_s,
            "params_m": round(sum(p.numel() for p in m.encoders.parameters()) / 1e6, 2)} | {
        h: round(metrics[k], 1) for k, h in METRICS.items() if k in metrics}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="training seconds per candidate and method")
    p.add_argument("--methods", nargs="+", default=["clip", "cosmos"])
    p.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every cell (repeatable), e.g. data.augment=workers")
    p.add_argument("--per-step", action="store_true", help="only the per-step cost (no training to --seconds, "
                   "no evaluation)")
    args = p.parse_args()
    sets = dict(kv.split("=", 1) for kv in args.set)  # C.resolve parses the values
    assert set(COMPARISON_EVALS) >= {k.rsplit("/", 1)[0] for k in METRICS}
    with tempfile.TemporaryDirectory() as tmp:
        register(Path(tmp))
        rows = []
        for method in args.methods:
            for candidate in args.candidates:
                rows.append(run(method, candidate, args.seconds, sets=sets, per_step_only=args.per_step))
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.seconds:.0f} s of training each, {torch.get_num_threads()} threads, one seed")
    header = ["method", "candidate", "params_m", "ms_per_step", "steps", "samples", "train_s", "eval_s",
              *METRICS.values()]
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(str(r.get(h, "-")) for h in header))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
