"""How fast can the tiny image tower learn the benchmark's categories? The evidence behind two tiny-scale choices:
category surface patterns in the scenes benchmark, and the tiny learning rate.

Trains ViT-Tiny-8-64 from scratch for a few hundred steps at batch 32 on 6,400 in-memory training scenes (no
augmentation) and reports top-1 on 1,000 test scenes for the dominant object's category (16 classes, chance 6.25):
  - supervised (linear head, cross-entropy) on flat-colour objects vs objects with their category pattern;
  - contrastive against the text tower, each image paired with its class name (in-batch duplicates as positives),
    at several learning rates: the zero-shot accuracy of the class-name embeddings;
  - CLIP on the benchmark's own captions (one drawn uniformly per sample, as `clip` does), with and without the
    v3 short caption that names the objects by category alone, for --caption-steps steps: zero-shot accuracy
    with the benchmark's classification templates (why benchmark v3 has that caption).
  - --typical: the same with the crop on, at the tiny batch (32), on the full vocabulary with objects in their
    category's typical colour with probability 0, 0.6 and 0.8 (benchmark v4's default): why v4 has typical colours.
  - --palette: CLIP on the captions for the tiny recipe's 200 steps (warmup + cosine, lr 3e-4) on the full
    vocabulary (10 colours, up to 4 objects) and on a reduced one (3 colours, up to 2 objects), at batch 32 and
    64, with and without the CLIP view's RandomResizedCrop(scale 0.9-1): what a benchmark v4 needs for zero-shot
    classification to leave chance in the tiny budget (docs/findings.md, "Category classification at tiny scale").

    python benchmarks/learnability.py [--steps 200] [--caption-steps 1000] [--palette | --typical [--seeds 0 1]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import random  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision.transforms as T  # noqa: E402

from methods.data.scenes.captions import caption_record  # noqa: E402
from methods.data.scenes.card import colour_only_top1  # noqa: E402
from methods.data.scenes.generate import ScenesConfig, scene_for  # noqa: E402
from methods.data.scenes.render import render  # noqa: E402
from methods.data.scenes.vocab import CATEGORIES, CATEGORY_ID, CLASSIFICATION_TEMPLATES  # noqa: E402
from methods.data.text import pick_caption  # noqa: E402
from methods.encoders import build_encoders  # noqa: E402
from methods.evals.classification import class_embeddings  # noqa: E402
from methods.losses import info_nce  # noqa: E402
from methods.schedules import warmup_cosine  # noqa: E402

ENCODER = "ViT-Tiny-8-64"
# Benchmark v3 (uniform colours), on which every mode but --typical was measured: the full vocabulary (10 colours,
# up to 4 objects per scene) and a reduced one (3 colours, up to 2 objects; a v4 candidate, not taken).
FULL = ScenesConfig(typical_colour_p=0.0)
REDUCED = ScenesConfig(colours=("red", "green", "blue"), max_objects=2, typical_colour_p=0.0)


def scenes(split: str, n: int, patterns: bool, cfg: ScenesConfig = FULL) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for i in range(n):
        scene, _ = scene_for(cfg, split, i)
        img, _ = render(scene, cfg.image_size, patterns)
        xs.append(np.asarray(img))
        ys.append(CATEGORY_ID[scene.dominant.category] - 1)
    x = torch.tensor(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
    return (x - 0.5) / 0.25, torch.tensor(ys)


def _optimiser(params, lr: float, warmup: int = 20):
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.1)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))


def supervised(train, test, steps: int, lr: float) -> float:
    torch.manual_seed(0)
    enc = build_encoders(ENCODER)
    tower, head = enc.model.visual, torch.nn.Linear(enc.embed_dim, len(CATEGORIES))
    opt, sched = _optimiser([*tower.parameters(), *head.parameters()], lr)
    (x, y), (xt, yt) = train, test
    for _ in range(steps):
        i = torch.randint(0, len(x), (32,))
        loss = F.cross_entropy(head(tower(x[i])), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return 100.0 * (head(tower.eval()(xt)).argmax(1) == yt).float().mean().item()


def contrastive(train, test, steps: int, lr: float) -> float:
    torch.manual_seed(0)
    enc = build_encoders(ENCODER)
    model, names = enc.model, enc.tokenizer()(list(CATEGORIES))
    opt, sched = _optimiser(model.parameters(), lr)
    (x, y), (xt, yt) = train, test
    for _ in range(steps):
        i = torch.randint(0, len(x), (32,))
        img = F.normalize(model.encode_image(x[i]), dim=-1)
        txt = F.normalize(model.encode_text(names[y[i]]), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        target = (y[i][:, None] == y[i][None]).float()
        target = target / target.sum(1, keepdim=True)
        loss = -((target * logits.log_softmax(1)).sum(1).mean() + (target * logits.log_softmax(0)).sum(0).mean()) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        cls = F.normalize(model.encode_text(names), dim=-1)
        pred = (F.normalize(model.encode_image(xt), dim=-1) @ cls.T).argmax(1)
        return 100.0 * (pred == yt).float().mean().item()


def caption_records(split: str, n: int, object_list: bool, cfg: ScenesConfig = FULL) -> list[dict]:
    """The benchmark's caption records; object_list=False drops the v3 object-list short caption."""
    out = []
    for i in range(n):
        scene, rng = scene_for(cfg, split, i)
        rec = caption_record(scene, rng)
        if not object_list:
            rec["short_captions"] = [rec["short_captions"][0], rec["short_captions"][2]]
        out.append(rec)
    return out


def clip_on_captions(train, test, records: list[dict], steps: int, lr: float = 3e-4, batch: int = 32,
                     cosine: bool = False, seed: int = 0, crop: bool = False) -> float:
    """Zero-shot top-1 after CLIP training on one uniformly drawn caption per sample (constant lr after warmup, or
    warmup + cosine to 0 as the suite's loop)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    enc = build_encoders(ENCODER)
    model, tok = enc.model, enc.tokenizer()
    opt, sched = _optimiser(model.parameters(), lr)
    (x, _), (xt, yt) = train, test
    rrc = T.RandomResizedCrop(x.shape[-1], scale=(0.9, 1.0), interpolation=T.InterpolationMode.BICUBIC)
    for step in range(steps):
        if cosine:
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(step, steps, lr, 20)
        i = torch.randint(0, len(x), (batch,))
        texts = tok([pick_caption(records[j], "random", rng) for j in i.tolist()])
        img = torch.stack([rrc(x[j]) for j in i.tolist()]) if crop else x[i]
        loss = info_nce(F.normalize(model.encode_image(img), dim=-1), F.normalize(model.encode_text(texts), dim=-1),
                         model.logit_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not cosine:
            sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, float(np.log(100)))
    model.eval()
    with torch.no_grad():
        cls = class_embeddings(model.encode_text, tok, list(CATEGORIES), list(CLASSIFICATION_TEMPLATES))
        pred = (F.normalize(model.encode_image(xt), dim=-1) @ cls.T).argmax(1)
        return 100.0 * (pred == yt).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--caption-steps", type=int, default=1000)
    ap.add_argument("--palette", action="store_true",
                    help="only the palette x batch x crop comparison (~8 min per seed)")
    ap.add_argument("--typical", action="store_true",
                    help="only the category-typical colour comparison, with the crop on (~5 min per seed)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.palette:
        return palette(args.seeds)
    if args.typical:
        return typical(args.seeds)
    print(f"{ENCODER}, {args.steps} steps at batch 32, top-1 on the dominant category (chance 6.25)")
    for patterns in (False, True):
        train, test = scenes("train", 6400, patterns), scenes("test", 1000, patterns)
        tag = "patterned" if patterns else "flat-colour"
        print(f"supervised, {tag} objects, lr 1e-3: {supervised(train, test, args.steps, 1e-3):5.1f}", flush=True)
    for lr in (1e-3, 3e-4):
        print(f"contrastive with class names, patterned objects, lr {lr:g}: "
              f"{contrastive(train, test, args.steps, lr):5.1f}", flush=True)
    for with_list in (False, True):
        recs = caption_records("train", 6400, with_list)
        tag = "with" if with_list else "without"
        print(f"CLIP on the benchmark's captions {tag} the object-list caption, {args.caption_steps} steps, "
              f"lr 3e-4: {clip_on_captions(train, test, recs, args.caption_steps):5.1f}", flush=True)


def palette(seeds: list[int]) -> None:
    print("CLIP on the captions, 200 steps (warmup 20 + cosine, lr 3e-4), 6,400 training scenes; zero-shot top-1 "
          "on 1,000 test scenes (chance 6.25)")
    runs = (("full vocabulary (10 colours, <= 4 objects)", FULL, ((32, False), (64, False))),
            ("reduced (3 colours, <= 2 objects)", REDUCED, ((32, False), (64, False), (64, True))))
    for name, cfg, settings in runs:
        train, test = scenes("train", 6400, True, cfg), scenes("test", 1000, True, cfg)
        recs = caption_records("train", 6400, True, cfg)
        for batch, crop in settings:
            accs = [clip_on_captions(train, test, recs, 200, batch=batch, cosine=True, seed=s, crop=crop)
                    for s in seeds]
            print(f"{name}, batch {batch}, {'RandomResizedCrop 0.9-1' if crop else 'no crop'}: "
                  + ", ".join(f"{a:5.1f}" for a in accs) + f" (seeds {seeds})", flush=True)


def typical(seeds: list[int]) -> None:
    print("CLIP on the captions, 200 steps (warmup 20 + cosine, lr 3e-4) at batch 32 with RandomResizedCrop(0.9-1), "
          "6,400 training scenes; zero-shot top-1 on 1,000 test scenes (chance 6.25)")
    for p in (0.0, 0.6, 0.8):
        cfg = ScenesConfig(typical_colour_p=p)
        train, test = scenes("train", 6400, True, cfg), scenes("test", 1000, True, cfg)
        recs = caption_records("train", 6400, True, cfg)
        accs = [clip_on_captions(train, test, recs, 200, batch=32, cosine=True, seed=s, crop=True) for s in seeds]
        ceiling = 100 * colour_only_top1(cfg.categories, cfg.colours, p)
        print(f"typical colour probability {p}: " + ", ".join(f"{a:5.1f}" for a in accs)
              + f" (seeds {seeds}; the dominant object's colour alone allows {ceiling:.2f})", flush=True)


if __name__ == "__main__":
    main()
