"""DreamLIP's loss against the official loss module, float64: the loss and every gradient of one training step.

The official `ClipLoss` (zyf0619sjtu/DreamLIP open_clip/loss.py) is loaded from a local copy of the official
repository (a checkout, or the git mirror `fetch` gives: the file is read with `git show`); nothing of it is kept
in the suite. One DreamLIP step of a small ViT in float64 on a random batch: the suite's features (image, the 7
texts, the projected patch tokens) go through the suite's loss and, the same tensors, through the official module
with the flags methods/dreamlip.py names (use_longcap, use_declip_loss, use_finegrained_loss; sgl_delta 0.0,
sgl_norm minmax); the official model's logit_scale_local is the grouping temperature's exp. Reported: the
relative difference of the total loss and the largest relative difference of any parameter's gradient.

Command: python benchmarks/dreamlip_parity.py --official /work/.mirror/zyf0619sjtu+DreamLIP/repo
         [--out benchmarks/results/dreamlip_parity.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from methods import build_method  # noqa: E402
from methods.data.views import random_batch  # noqa: E402
from methods.dreamlip import DreamLIPConfig  # noqa: E402

FLAGS = {"use_longcap": True, "use_declip_loss": True, "use_finegrained_loss": True, "sgl_delta": 0.0,
         "sgl_norm": "minmax", "clip_lossweight": 1.0, "sgl_lossweight": 1.0, "cache_labels": True}


def official_loss_source(path: pathlib.Path) -> tuple[str, str]:
    """The official open_clip/loss.py text and the commit it is from."""
    if (path / "open_clip" / "loss.py").is_file():
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
        return (path / "open_clip" / "loss.py").read_text(), commit.stdout.strip() or "unknown"
    show = subprocess.run(["git", "--git-dir", str(path), "show", "HEAD:open_clip/loss.py"], capture_output=True,
                          text=True)
    if show.returncode:
        raise SystemExit(f"error: {path} is neither a DreamLIP checkout nor its git mirror ({show.stderr.strip()})")
    commit = subprocess.run(["git", "--git-dir", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
    return show.stdout, commit.stdout.strip()


def load_official(source: str):
    with tempfile.NamedTemporaryFile("w", suffix="_dreamlip_loss.py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("dreamlip_official_loss", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_grads(method, loss_fn) -> tuple[float, dict[str, torch.Tensor]]:
    method.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--official", required=True, type=pathlib.Path, help="DreamLIP checkout or git mirror")
    ap.add_argument("--out", type=pathlib.Path)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    source, commit = official_loss_source(args.official)
    official = load_official(source).ClipLoss(**FLAGS)

    torch.manual_seed(0)
    method = build_method("dreamlip", DreamLIPConfig(), "ViT-Tiny-16-64").double()
    with torch.no_grad():  # away from the initial values, so that the two temperatures differ
        method.grouping.logit_scale.fill_(2.3)
        method.encoders.logit_scale.fill_(3.1)
    batch = random_batch(method.views, args.batch, method.encoders.context_length, length=12, seed=1)
    batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}

    def ours():
        return method.loss(method.features(batch))["loss"]

    def theirs():
        f = method.features(batch)  # image (B, D), text (B, T, D), patches (B, M, D), normalised as the model's
        losses = official(image_features=f["image"], text_features=f["text"],
                          logit_scale=method.encoders.logit_scale.exp(),
                          logit_scale_local=method.grouping.logit_scale.exp(),
                          local_image_features=f["patches"], output_dict=True)
        return sum(losses.values())

    loss_a, grads_a = step_grads(method, ours)
    loss_b, grads_b = step_grads(method, theirs)
    assert grads_a.keys() == grads_b.keys(), (set(grads_a) ^ set(grads_b))
    rel = {n: float((grads_a[n] - grads_b[n]).norm() / grads_b[n].norm().clamp_min(1e-300)) for n in grads_a}
    worst = max(rel, key=rel.get)
    result = {"official": f"zyf0619sjtu/DreamLIP {commit} open_clip/loss.py ClipLoss", "flags": FLAGS,
              "dtype": "float64", "batch": args.batch, "texts": 1 + method.cfg.num_text,
              "loss_suite": loss_a, "loss_official": loss_b, "loss_rel_diff": abs(loss_a - loss_b) / abs(loss_b),
              "parameters_compared": len(rel), "grad_max_rel_diff": rel[worst], "grad_worst_parameter": worst,
              "torch": torch.__version__}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    if result["loss_rel_diff"] > 1e-12 or result["grad_max_rel_diff"] > 1e-12:
        raise SystemExit("parity FAILED (> 1e-12 relative)")


if __name__ == "__main__":
    main()
