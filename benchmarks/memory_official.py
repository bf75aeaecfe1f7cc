"""One COSMOS optimisation step of the official code itself, for benchmarks/memory.py's side-by-side peak.

Imports the official fork of open_clip from a local checkout (ExplainableML/cosmos, its src/ folder; never
vendored, never downloaded) in a process of its own, since it shares the package name with open_clip. Builds
the CC3M recipe's model (ViT-B-16, --output-all --attentional-pool --cosmos), its EMA teacher and COSMOSLoss,
and runs the official train_one_epoch's step on random data: student forward on 2 x 224 + 6 x 96 crops and 8
texts, teacher forward on the global crops and the 2 global texts, loss, backward, the EMA update, AdamW. Prints
the peak RSS above the built model as JSON (Linux only).

    python benchmarks/memory_official.py --src /path/to/cosmos/src [--batch 4]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import sys
from pathlib import Path


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status (kB there) in MB (Linux only); shared with benchmarks/memory.py."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, required=True, help="the official repository's src/ folder")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--locals", type=int, default=6)
    p.add_argument("--texts", type=int, default=8)
    args = p.parse_args()
    if not (args.src / "open_clip" / "model.py").exists():
        sys.exit(f"error: {args.src} is not the official COSMOS src/ folder (no open_clip/model.py)")
    sys.path.insert(0, str(args.src.resolve()))
    import open_clip  # the official fork
    import torch
    from open_clip.loss import COSMOSLoss

    assert Path(open_clip.__file__).resolve().is_relative_to(args.src.resolve()), open_clip.__file__
    torch.manual_seed(0)
    student = open_clip.create_model_and_transforms(
        "ViT-B-16", None, output_dict=True, output_all=True, attentional_pool=True, cosmos=True,
        use_imagecrop_aug=True, global_crops_number=2, local_crops_number=args.locals, crop_scale=0.4)[0]
    teacher = copy.deepcopy(student)
    for q in teacher.parameters():
        q.requires_grad = False
    student.train()
    teacher.train()
    loss_fn = COSMOSLoss(cache_labels=True)
    opt = torch.optim.AdamW([q for q in student.parameters() if q.requires_grad], lr=1e-4, betas=(0.9, 0.98),
                            eps=1e-8, weight_decay=0.5)
    b = args.batch
    g = torch.Generator().manual_seed(0)
    images = [torch.randn(b, 3, 224, 224, generator=g) for _ in range(2)]
    images += [torch.randn(b, 3, 96, 96, generator=g) for _ in range(args.locals)]
    texts = torch.randint(1, 49000, (b, args.texts, 77), generator=g)
    texts[..., 20:] = 0
    texts[..., 19] = 49407
    texts = texts.permute(1, 0, 2).reshape(-1, 77)  # as train_one_epoch: (n, B, 77) -> (n * B, 77)
    gc.collect()
    base = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    opt.zero_grad()
    s_out = student(images, texts, b)
    t_out = teacher(torch.cat(images[:2]), texts[: 2 * b])
    losses = loss_fn(s_image_features=s_out["image_features"].chunk(len(images)),
                     t_image_features=t_out["image_features"].chunk(2),
                     s_img_crossmodal_features=s_out["img_crossmodal_features"].chunk(len(images)),
                     s_text_features=s_out["text_features"].chunk(args.texts),
                     t_text_features=t_out["text_features"].chunk(2),
                     s_txt_crossmodal_features=s_out["txt_crossmodal_features"].chunk(args.texts),
                     logit_scale=s_out["logit_scale"], distill_logit_scale=s_out["distill_logit_scale"],
                     output_dict=True)
    sum(losses.values()).backward()
    with torch.no_grad():  # the official EMA update, before the optimiser step
        for q, k in zip(student.parameters(), teacher.parameters()):
            k.data.mul_(0.999).add_((1 - 0.999) * q.detach().data)
    opt.step()
    print(json.dumps({"peak_mb": status_mb("VmHWM") - base,
                      "loss": {k: float(v) for k, v in losses.items()}}))


if __name__ == "__main__":
    main()
