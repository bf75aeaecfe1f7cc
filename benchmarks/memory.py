"""Where a COSMOS step's activation memory lives: ours against the official computation, module by module.

Activation memory is what autograd saves for the backward pass. This script records every tensor saved during
one forward (torch.autograd.graph.saved_tensors_hooks), counts each storage once (parameters excluded), and
charges it to the innermost module running when it was saved (code outside any module: "(method)"). The official
computation is the hand-built reference of the official COSMOS code in tests/test_cosmos_parity.py (MultiCropWrap,
AttentionalCrossPooler, COSMOSLoss) on the same parameters and batch. --peak adds the peak RSS above the built
model of one full optimisation step of ours, in a fresh process (Linux only).

    python benchmarks/memory.py                               # ViT-B-16, batch 4, 2 x 224 + 6 x 96 crops, 8 texts
    python benchmarks/memory.py --encoder ViT-Tiny-16-64 --batch 8 --local-size 32   # a quick look
    python benchmarks/memory.py --peak --official-src /path/to/cosmos/src   # + full-step peaks, the official code too
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.memory_official import status_mb  # noqa: E402  (suite-free: no open_clip import)
from experiments import config as C  # noqa: E402
from methods import build_method  # noqa: E402
from methods.data.views import random_batch  # noqa: E402


def build(encoder: str, batch: int, local_size: int):
    cfg = C.resolve({"method": "cosmos", "scale": "paper", "encoder": encoder, "data.dataset": "scenes",
                     "cosmos.local_size": local_size})
    torch.manual_seed(0)
    method = build_method("cosmos", cfg.method_config, encoder).train()
    ctx = method.encoders.context_length
    data = random_batch(method.views, batch, ctx, length=min(20, ctx), seed=0)
    return method, data


class SavedTensors:
    """Bytes autograd saves for backward during a forward, per innermost module (each storage once)."""

    def __init__(self, model: torch.nn.Module):
        self.stack, self.by_module, self.seen = ["(method code)"], collections.Counter(), set()
        self.handles = []
        for name, mod in model.named_modules():  # repeated blocks share a label: resblocks.*.attn
            label = re.sub(r"\.\d+(?=\.|$)", ".*", name) or "(method)"
            label = f"{label} ({type(mod).__name__})"
            self.handles.append(mod.register_forward_pre_hook(lambda m, a, label=label: self._enter(label)))
            self.handles.append(mod.register_forward_hook(lambda m, a, o: self._leave()))

    def _enter(self, label: str) -> None:  # hooks must return None: a value would replace the inputs / output
        self.stack.append(label)

    def _leave(self) -> None:
        self.stack.pop()

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


def peak_step_mb(which: str, encoder: str, batch: int, local_size: int) -> float:
    """Peak RSS (MB) of one full optimisation step (forward, backward, AdamW, EMA) above the RSS once model,
    optimiser and batch are built: `which` = ours (the suite's optimisation_step) or official (the reference
    forward, then the same backward, AdamW step and EMA update)."""
    import gc

    from methods.train import optimisation_step

    method, data = build(encoder, batch, local_size)
    opt = torch.optim.AdamW(method.param_groups(0.1), lr=1e-4)
    gc.collect()
    base = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS (Linux)
    if which == "ours":
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        optimisation_step(method, method, data, opt, scaler, 1e-4, 0.0, "fp32", torch.device("cpu"))
    else:
        from tests.test_cosmos_parity import official_step_loss

        clip, distill = official_step_loss(method, data)
        (clip + distill).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        method.on_step_end(0, 100)
    return status_mb("VmHWM") - base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", default="ViT-B-16")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--local-size", type=int, default=96)
    p.add_argument("--peak", action="store_true", help="also the peak RSS of a full step (a fresh process each)")
    p.add_argument("--official-src", type=Path, default=None, help="with --peak: also the official code's own step "
                   "(a local checkout's src/ folder of ExplainableML/cosmos; benchmarks/memory_official.py)")
    p.add_argument("--peak-child", choices=("ours", "official"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peak_child:
        print(json.dumps({"peak_mb": peak_step_mb(args.peak_child, args.encoder, args.batch, args.local_size)}))
        return
    cols = {w: saved_activations(w, args.encoder, args.batch, args.local_size) for w in ("ours", "official")}
    mods = sorted(set(cols["ours"]) | set(cols["official"]), key=lambda m: -max(c.get(m, 0) for c in cols.values()))
    print(f"saved activations (MB) of one COSMOS forward: {args.encoder}, batch {args.batch}, 2 x "
          f"{build(args.encoder, 1, args.local_size)[0].encoders.image_size} + 6 x {args.local_size} crops, 8 texts")
    print("| module | ours | official (reference) |\n|---|---|---|")
    for m in mods:
        print(f"| {m} | {cols['ours'].get(m, 0)} | {cols['official'].get(m, 0)} |")
    print(f"| total | {sum(cols['ours'].values()):.1f} | {sum(cols['official'].values()):.1f} |")
    if args.peak:
        for which in ("ours", "official"):
            cmd = [sys.executable, __file__, "--encoder", args.encoder, "--batch", str(args.batch), "--local-size",
                   str(args.local_size), "--peak-child", which]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            label = "ours" if which == "ours" else "the official computation (reference in tests/test_cosmos_parity.py)"
            print(f"peak RSS of one full step above the built model, {label}: {json.loads(out)['peak_mb']:.0f} MB")
        if args.official_src:
            if args.encoder != "ViT-B-16" or args.local_size != 96:
                raise SystemExit("error: --official-src runs the official CC3M config: ViT-B-16, --local-size 96")
            cmd = [sys.executable, str(Path(__file__).with_name("memory_official.py")), "--src",
                   str(args.official_src), "--batch", str(args.batch)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(f"peak RSS of one full step above the built model, the official code itself: "
                  f"{json.loads(out)['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
