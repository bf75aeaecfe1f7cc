"""The papers' training recipes at `scale=paper`, per dataset and method, audited field by field.

`recipe=NAME` (paper scale; default cc3m) sets every field of the official script for that dataset: global batch,
steps (epochs x the official loader's steps per epoch), optimiser, schedule, precision, teacher momentum and the
method's views. Each value carries its source, so `python experiments/run.py recipes [--recipe NAME]` prints the
resolved config beside the official value and where it comes from; a field the suite cannot match is listed as a
named deviation with the switch that changes it (or says there is none).

Sources: the COSMOS scripts src/train_{cc3m,cc12m,yfcc15m,merged30m,pixelprose}.sh and src/training/{data,train,
scheduler}.py (ExplainableML/cosmos c80348f); SLIP's README recipes, main.py defaults and utils.cosine_scheduler
(facebookresearch/SLIP).
"""

from __future__ import annotations

import dataclasses
import math

from .errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    script: str  # the official command this recipe reproduces
    samples: int | None  # training set size (the official --train-num-samples); None: taken from the user's data
    epochs: int
    gpus: int  # nodes x GPUs per node of the official run
    per_gpu_batch: int
    rounding: str  # steps per epoch: "open_clip" (ceil, rounded up to a multiple of the 16 loader workers) or
    # "drop_last" (floor: a torch DataLoader with drop_last=True)
    fields: dict[str, tuple[object, str]]  # dotted key -> (official value, source), for every method
    method_fields: dict[str, dict[str, tuple[object, str]]]  # method -> its own fields
    deviations: tuple[str, ...] = ()  # where the suite differs, and the switch that changes it

    @property
    def batch(self) -> int:
        return self.gpus * self.per_gpu_batch

    def steps_per_epoch(self) -> int | None:
        if self.samples is None:
            return None
        if self.rounding == "drop_last":
            return self.samples // self.batch
        workers = 16  # the official scripts' --workers 16 (src/training/data.py rounds per loader worker)
        return math.ceil(math.ceil(self.samples / self.batch) / workers) * workers


_COSMOS_TRAIN = {
    "encoder": ("ViT-B-16", "--model ViT-B-16"),
    "train.lr": (5e-4, "--lr 5e-4"), "train.warmup": (2000, "--warmup 2000"),
    "train.weight_decay": (0.5, "--wd 0.5"), "train.beta1": (0.9, "--beta1 0.9"), "train.beta2": (0.98, "--beta2 0.98"),
    "train.eps": (1e-8, "--eps 1e-8"), "train.min_lr": (0.0, "scheduler.cosine_lr: cosine to 0"),
    "train.warmup_start": (0.0, "scheduler._warmup_lr: base_lr * (step + 1) / warmup"),
    "train.grad_clip": (0.0, "no --grad-clip-norm"), "train.precision": ("fp16", "--precision amp (fp16 + GradScaler)"),
    "train.tf32": (True, "main.py: torch.backends.cuda.matmul.allow_tf32 = True"),
}
_COSMOS_VIEWS = {
    "cosmos.local_crops": (6, "--local-crops-number 6"), "cosmos.crop_split": (0.4, "--crop-scale 0.4"),
    "cosmos.local_size": (96, "transform.py: RandomResizedCrop(96, ...)"),
    "cosmos.caption": ("textcrop", "--caption-sampling-mode textcrop[_pixelprose]"),
    "cosmos.global_texts": (2, "data.sample_dict: 2 global captions"),
    "cosmos.local_texts": (6, "--num-sampled-captions 8 (2 global + 6 local)"),
    "cosmos.max_sentences": (5, "data.sample_dict: random.randint(1, 5)"),
    "cosmos.text_crops": ("official", "data.sample_dict + random_sample_from_list"),
    "cosmos.ema_schedule": ("fixed", "--fix-momentum"),
    "cosmos.ema_order": ("before_step", "train.py: EMA between backward and the optimiser step"),
    "cosmos.pos_interp": ("dino", "transformer.py: interpolate_pos_encoding (DINO's)"),
    "cosmos.heads": (8, "model.py: attn_pooler_heads 8"),
    "cosmos.mask_text_padding": (False, "model.py: no key padding mask"),
    "cosmos.clip_on_local_crops": (False, "loss.py: local crops not in the CLIP loss"),
    "cosmos.distill_weight": (1.0, "loss.py: L_clip + L_cosmos"),
}

# DreamLIP (zyf0619sjtu/DreamLIP d2aeea8): no training command is published (README: "Release training code"
# unchecked); the method's flags and training/params.py defaults (methods/dreamlip.py says which and why).
_DREAMLIP = {
    "dreamlip.caption": ("raw", "training/data.py: captions = [caption_raw] + sub-captions"),
    "dreamlip.num_text": (6, "params.py --num_text 6"),
    "dreamlip.sgl_delta": (0.0, "params.py --sgl_delta 0.0"),
    "dreamlip.sgl_norm": ("minmax", "params.py --sgl_norm minmax"),
    "dreamlip.clip_weight": (1.0, "params.py --clip_lossweight 1.0"),
    "dreamlip.sgl_weight": (1.0, "params.py --sgl_lossweight 1.0"),
    "dreamlip.grouping_texts": ("official", "loss.py: the text-major stack viewed as (batch, texts)"),
    "dreamlip.crop_scale": ((0.9, 1.0), "open_clip transform.py: RandomResizedCrop(scale=(0.9, 1.0))"),
    "dreamlip.interpolation": ("bicubic", "open_clip transform.py: InterpolationMode.BICUBIC"),
}


def _cosmos_recipe(name: str, data: str, samples: int, gpus: int, per_gpu: int, momentum: float) -> Recipe:
    script = f"src/train_{name}.sh"
    ema = (momentum, f"--momentum-teacher {momentum}")
    return Recipe(
        name=name, script=f"ExplainableML/cosmos {script} ({data})", samples=samples, epochs=32, gpus=gpus,
        per_gpu_batch=per_gpu, rounding="open_clip", fields=dict(_COSMOS_TRAIN),
        method_fields={"cosmos": _COSMOS_VIEWS | {"cosmos.ema_momentum": ema},
                       # COSMOS trains its CLIP and SiLC baselines with its own recipe (paper, Sec. 4)
                       "silc": {"silc.ema_momentum": ema, "silc.ema_schedule": ("fixed", "SiLC: fixed momentum"),
                                "silc.crop_split": (0.4, "as COSMOS --crop-scale 0.4")},
                       "dreamlip": dict(_DREAMLIP)},
        deviations=("SLIP under a COSMOS recipe uses COSMOS's optimiser and schedule (the COSMOS paper trains its "
                    "baselines alike); SLIP's own recipe is `recipe=slip_yfcc15m`.",
                    "DreamLIP under a COSMOS recipe uses COSMOS's optimiser and schedule: DreamLIP publishes no "
                    "training command (its params.py defaults differ: --wd 0.2, --warmup 10000, eps 1e-6).",
                    "DreamLIP's patch features go through the visual projection and its grouping temperature is a "
                    "learnable parameter: the released code hands the loss unprojected tokens (768 wide against "
                    "512 at ViT-B/16) and a None temperature, which cannot run (no switch; methods/dreamlip.py)."))


_SLIP_TRAIN = {
    "encoder": ("ViT-B-16", "--model SLIP_VITB16 / CLIP_VITB16"),
    "train.beta1": (0.9, "main.py --betas 0.9 0.98"), "train.beta2": (0.98, "main.py --betas 0.9 0.98"),
    "train.eps": (1e-8, "main.py --eps 1e-8"), "train.warmup_start": (1e-6, "main.py --lr-start 1e-6"),
    "train.min_lr": (1e-5, "main.py --lr-end 1e-5"), "train.grad_clip": (0.0, "no clipping"),
    "train.precision": ("fp16", "main.py: torch.cuda.amp autocast + GradScaler"),
    "eval.imagenet_templates": ("slip7", "templates.json['imagenet']: 7 templates"),
    "text_act": ("quick_gelu", "models.py: the text Transformer's ResidualAttentionBlock MLP uses QuickGELU (the "
                               "image tower is timm's ViT, GELU)"),
    "image_norm": ("imagenet", "main.py: Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]), "
                               "training and evaluation"),
}
SLIP_YFCC15M = Recipe(
    name="slip_yfcc15m", script="facebookresearch/SLIP README (8 nodes x 8 GPUs, batch 4096), main.py defaults",
    samples=None, epochs=25, gpus=64, per_gpu_batch=64, rounding="drop_last", fields=dict(_SLIP_TRAIN),
    method_fields={
        "slip": {"train.lr": (3e-3, "README: --lr 3e-3"), "train.weight_decay": (0.1, "README: --wd 0.1"),
                 "slip.clip_scale": ((0.5, 1.0), "main.py: RandomResizedCrop(224, scale=(0.5, 1.0))"),
                 "slip.ssl_scale_range": ((0.08, 1.0), "datasets.py: SimCLR RandomResizedCrop(224, scale=(0.08, 1.))"),
                 "slip.interpolation": ("bilinear", "torchvision's RandomResizedCrop default"),
                 "slip.ssl_temperature": (0.1, "--ssl-temp 0.1"), "slip.ssl_hidden": (4096, "--ssl-mlp-dim 4096"),
                 "slip.ssl_dim": (256, "--ssl-emb-dim 256"), "slip.ssl_scale": (1.0, "--ssl-scale 1.0")},
        "clip": {"train.lr": (5e-4, "README: CLIP --lr 5e-4"), "train.weight_decay": (0.5, "README: CLIP --wd 0.5"),
                 "clip.crop_scale": ((0.5, 1.0), "main.py: RandomResizedCrop(224, scale=(0.5, 1.0))"),
                 "clip.interpolation": ("bilinear", "torchvision's RandomResizedCrop default")}},
    deviations=("Evaluation resize: SLIP's val_transform resizes with torchvision's default (bilinear), the "
                "suite's evaluators with open_clip's (bicubic) for every method (no switch: one protocol for all "
                "rows).",
                "Warmup: SLIP ramps by np.linspace(1e-6, lr, warmup_iters) (its last warmup step reaches lr), the "
                "suite by start + (lr - start) * (step + 1) / warmup: the same line, one step apart (no switch).",
                "Training set size: the official steps come from the user's yfcc15m.pkl; set recipe_samples=N "
                "(N samples: 25 x floor(N / 4096) steps)."))

RECIPES: dict[str, Recipe] = {
    r.name: r for r in (
        _cosmos_recipe("cc3m", "CC3M-recap", 2_823_019, 16, 64, 0.999),
        _cosmos_recipe("cc12m", "CC12M-recap", 10_010_225, 128, 32, 0.99),
        _cosmos_recipe("yfcc15m", "YFCC15M-recap", 14_065_827, 128, 32, 0.99),
        _cosmos_recipe("merged30m", "CC3M + CC12M + YFCC15M recaptioned", 26_899_071, 128, 32, 0.99),
        _cosmos_recipe("pixelprose", "PixelProse", 15_037_386, 128, 32, 0.99),
        SLIP_YFCC15M)}
DEFAULT_RECIPE = "cc3m"


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; valid choices: {', '.join(RECIPES)}")
    return RECIPES[name]


def official_fields(name: str, method: str, samples: int = 0) -> dict[str, tuple[object, str]]:
    """Every audited field of a recipe for a method: dotted key -> (official value, source). `samples` replaces
    the recipe's training-set size (required where the official code takes it from the user's data)."""
    r = recipe(name)
    if samples:
        r = dataclasses.replace(r, samples=samples)
    if r.samples is None:
        raise ConfigError(f"recipe {name} takes its training-set size from your data: set recipe_samples=N "
                          "(the number of training samples)")
    out = dict(r.fields)
    per_epoch = r.steps_per_epoch()
    how = "ceil(ceil(N / batch) / 16) x 16" if r.rounding == "open_clip" else "floor(N / batch), drop_last"
    out["train.batch_size"] = (r.batch, f"{r.gpus} GPUs x --batch-size {r.per_gpu_batch}")
    out["train.steps"] = (r.epochs * per_epoch, f"{r.epochs} epochs x {per_epoch} steps ({how}, N = {r.samples:,})")
    if r.rounding == "drop_last":  # SLIP: warmup of one epoch
        out["train.warmup"] = (per_epoch, "--warmup-epochs 1")
    return out | r.method_fields.get(method, {})


def overrides(name: str, method: str, samples: int = 0) -> dict[str, object]:
    """The dotted-key overrides a recipe sets for a method."""
    return {k: v for k, (v, _) in official_fields(name, method, samples).items()}
