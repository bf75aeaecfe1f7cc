"""Where a COSMOS step's activation memory lives: ours against the official computation, module by module.

Activation memory is what autograd saves for the backward pass. This script records every tensor saved during
one forward (torch.autograd.graph.saved_tensors_hooks), counts each storage once (parameters excluded), and
charges it to the innermost module running when it was saved (code outside any module: "(method)"). The official
computation is the hand-built reference of the official COSMOS code in tests/test_cosmos_parity.py (MultiCropWrap,
AttentionalCrossPooler, COSMOSLoss) on the same parameters and batch. --peak adds the peak RSS above the built
model of one full optimisation step of ours, in a fresh process (Linux only).

    python benchmarks/memory.py                               # ViT-B-16, batch 4, 2 x 224 + 6 x 96 crops, 8 texts
    python benchmarks/memory.py --encoder ViT-Tiny-16-64 --batch 8 --local-size 32   # a quick look
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from experiments import config as C  # noqa: E402
from methods import build_method  # noqa: E402
from methods.data.views import random_batch  # noqa: E402


def build(encoder: str, batch: int, local_size: int, overrides: dict | None = None):
    cfg = C.resolve({"method": "cosmos", "scale": "paper", "encoder": encoder, "data.dataset": "scenes",
                     "cosmos.local_size": local_size, **(overrides or {})})
    torch.manual_seed(0)
    method = build_method("cosmos", C.method_config(cfg), encoder).train()
    data = random_batch(method.views, batch, method.encoders.context_length, length=20, seed=0)
    return method, data


class SavedTensors:
    """Bytes autograd saves for backward during a forward, per innermost module (each storage once)."""

    def __init__(self, model: torch.nn.Module):
        self.stack, self.by_module, self.seen = ["(method code)"], collections.Counter(), set()
        self.handles = []
        for name, mod in model.named_modules():  # repeated blocks share a label: resblocks.*.attn
            label = re.sub(r"\.\d+(?=\.|$)", ".*", name) or "(method)"
            label = f"{label} ({type(mod).__name__})"
            self.handles.append(mod.register_forward_pre_hook(lambda m, a, label=label: self.stack.append(label)))
            self.handles.append(mod.register_forward_hook(lambda m, a, o: self.stack.pop()))

    def pack(self, t: torch.Tensor):
        storage = t.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if key not in self.seen:
            self.seen.add(key)
            self.by_module[self.stack[-1]] += storage.nbytes()
        return t


def saved_activations(which: str, encoder: str, batch: int, local_size: int) -> dict:
    method, data = build(encoder, batch, local_size)
    param_ptrs = {p.untyped_storage().data_ptr() for p in method.parameters()}
    rec = SavedTensors(method)

    def pack(t):
        if t.untyped_storage().data_ptr() in param_ptrs:
            return t
        return rec.pack(t)

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if which == "ours":
            loss = method(data)["loss"]
        else:
            from tests.test_cosmos_parity import official_step_loss

            clip, distill = official_step_loss(method, data)
            loss = clip + distill
    for h in rec.handles:
        h.remove()
    loss.backward()
    return {k: round(v / 2**20, 1) for k, v in sorted(rec.by_module.items(), key=lambda kv: -kv[1])}


def peak_step_mb(encoder: str, batch: int, local_size: int, overrides: dict) -> float:
    """Peak RSS (MB) of one full optimisation step above the RSS once model, optimiser and batch are built."""
    from methods.train import optimisation_step

    method, data = build(encoder, batch, local_size, overrides)
    opt = torch.optim.AdamW(method.param_groups(0.1), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    import gc

    gc.collect()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    optimisation_step(method, method, data, opt, scaler, 1e-4, 0.0, "fp32", torch.device("cpu"))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", default="ViT-B-16")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--local-size", type=int, default=96)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for ours")
    p.add_argument("--peak", action="store_true", help="also the peak RSS of a full step (a fresh process each)")
    p.add_argument("--_peak-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    sets = dict(kv.split("=", 1) for kv in args.set)
    if args._peak_child:
        print(json.dumps({"peak_mb": peak_step_mb(args.encoder, args.batch, args.local_size, sets)}))
        return
    cols = {w: saved_activations(w, args.encoder, args.batch, args.local_size) for w in ("ours", "official")}
    mods = sorted(set(cols["ours"]) | set(cols["official"]), key=lambda m: -max(c.get(m, 0) for c in cols.values()))
    print(f"saved activations (MB) of one COSMOS forward: {args.encoder}, batch {args.batch}, 2 x "
          f"{build(args.encoder, 1, args.local_size)[0].encoders.image_size} + 6 x {args.local_size} crops, 8 texts")
    print("| module | ours | official |\n|---|---|---|")
    for m in mods:
        print(f"| {m} | {cols['ours'].get(m, 0)} | {cols['official'].get(m, 0)} |")
    print(f"| total | {sum(cols['ours'].values()):.1f} | {sum(cols['official'].values()):.1f} |")
    if args.peak:
        cmd = [sys.executable, __file__, "--encoder", args.encoder, "--batch", str(args.batch), "--local-size",
               str(args.local_size), "--_peak-child"] + [f"--set={kv}" for kv in args.set]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print(f"peak RSS of one full step of ours above the built model: {json.loads(out)['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
