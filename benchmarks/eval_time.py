"""Where a tiny run's evaluation time goes: each configured evaluation set alone, then the whole evaluation as a
run ends (every set with its per-item records, the other weights' sets, the attention maps), for one method at the
tiny profile on benchmark v5 with an untrained model (evaluation cost does not depend on the weights).

    python benchmarks/eval_time.py [--method cosmos] [--repeat 1] [--unshared]

--unshared times the evaluation as it was before one evaluation encoded a shared image list once (each set
encodes its own), for the before/after comparison in benchmarks/README.md.

Quote it only from a run with nothing else busy (docs: torch with 2 threads slows 5-10x beside another process).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from experiments import config as C  # noqa: E402
from methods import build_method  # noqa: E402
from methods.data.scenes import ensure_scenes, preset  # noqa: E402
from methods.evals import evaluate, evaluate_other_weights  # noqa: E402
from methods.evals.attention import attention_maps  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="cosmos")
    p.add_argument("--repeat", type=int, default=1, help="report the fastest of this many timings")
    p.add_argument("--unshared", action="store_true", help="every set encodes its own images (the old behaviour)")
    args = p.parse_args()
    if args.unshared:
        import contextlib

        import methods.evals as E

        E.shared_embeddings = contextlib.nullcontext
    run = C.resolve({"method": args.method, "scale": "tiny"})
    scenes = ensure_scenes(preset(run.data.scenes), progress=False)
    torch.manual_seed(0)
    method = build_method(run.method, run.method_config, run.encoder, run.context_length).eval()
    rows = []
    for spec in run.eval.sets:
        one = dataclasses.replace(run.eval, sets=(spec,))
        rows.append((spec, min(timed(lambda one=one: evaluate(method, one, scenes, items={}, progress=False))
                               for _ in range(args.repeat))))
    whole = {"evaluate (every set, with items)": lambda: evaluate(method, run.eval, scenes, items={}, progress=False),
             "other weights' sets": lambda: evaluate_other_weights(method, run.eval, scenes),
             "attention maps": lambda: attention_maps(method, scenes)}
    for name, fn in whole.items():
        rows.append((name, min(timed(fn) for _ in range(args.repeat))))
    print(f"{args.method}, tiny profile ({run.encoder}, {run.data.scenes}), {torch.get_num_threads()} threads"
          + (", unshared" if args.unshared else ""))
    for name, seconds in rows:
        print(f"  {name:<40} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
