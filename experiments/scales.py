"""Scale profiles: what `scale=tiny|small|paper` changes in a run config (sizes, steps, data), nothing else.

tiny: this 2-core CPU in minutes, on the bundled synthetic benchmark (64 px).
small: one GPU, ViT-S/16 on the synthetic benchmark at 224 px.
paper: the papers' recipes (methods.md) on real data at user-given local paths, under torchrun / SLURM.
"""

from __future__ import annotations

SCALES = ("tiny", "small", "paper")
# What every method comparison evaluates on the synthetic benchmark (one set, so runs are shared between tables).
COMPARISON_EVALS = ("retrieval/scenes", "classification/scenes", "compositional/scenes", "perception/scenes",
                    "segmentation/scenes")

_PROFILES: dict[str, dict] = {
    # tiny: sized so that table3 (4 methods) trains and evaluates in < 15 min from nothing on 2 cores. lr 3e-4:
    # at 1e-3 the tiny towers sit on the contrastive plateau for ~100 steps (benchmarks/learnability.py: 44.0% vs
    # 73.4% zero-shot after 200 steps in its class-name test).
    "tiny": {
        "encoder": "ViT-Tiny-8-64",
        "train.steps": 200, "train.batch_size": 32, "train.warmup": 20, "train.lr": 3e-4, "train.weight_decay": 0.1,
        "train.ckpt_every": 100, "train.log_every": 10,
        # workers=0: on 2 cores a data worker beside 2 compute threads oversubscribes the CPU (measured slower)
        "data.scenes": "tiny", "data.workers": 0, "data.shuffle_buffer": 500, "eval.sets": COMPARISON_EVALS,
    },
    "small": {
        "encoder": "ViT-S-16",
        "train.steps": 20_000, "train.batch_size": 256, "train.warmup": 1000, "train.ckpt_every": 1000,
        "data.scenes": "small", "data.workers": 8, "eval.sets": COMPARISON_EVALS,
    },
    "paper": {
        "encoder": "ViT-B-16",
        "data.dataset": "shards", "data.workers": 8, "data.shuffle_buffer": 5000, "train.ckpt_every": 2000,
        "eval.sets": ("retrieval/coco", "retrieval/flickr30k", "classification/imagenet"),
    },
}

# Per-method changes a scale needs beyond the shared profile: sizes only (heads, local-crop resolution scaled
# with the global one: 96/224 of 64 px -> 32 px), plus the teacher momentum, which the papers tie to the length
# of training (0.999 over ~88k steps at batch 1024); over 600 tiny steps 0.999 would leave the teacher mostly at
# its random initialisation, so tiny uses 0.99 (COSMOS's value for batch 4096).
_TINY_MULTICROP = {"local_size": 32, "ema_momentum": 0.99}
_METHOD_PROFILES: dict[tuple[str, str], dict] = {
    ("tiny", "slip"): {"slip.ssl_hidden": 512, "slip.ssl_dim": 128},
    ("tiny", "silc"): {f"silc.{k}": v for k, v in _TINY_MULTICROP.items()} | {
        "silc.head_dim": 1024, "silc.head_hidden": 512, "silc.head_bottleneck": 128},
    ("tiny", "cosmos"): {f"cosmos.{k}": v for k, v in _TINY_MULTICROP.items()},
    ("small", "silc"): {"silc.head_dim": 8192},
}


def scale_overrides(scale: str, method: str) -> dict:
    """Dotted-key overrides of `scale` for `method` (shared profile, then the method's own)."""
    return dict(_PROFILES[scale]) | _METHOD_PROFILES.get((scale, method), {})


# Measured seconds per training step at batch 32 on the reference 2-core CPU (tiny profile, data included;
# benchmarks/methods.py and the table3 timing runs): the dry run's cost estimate at tiny scale.
TINY_SECONDS_PER_STEP_B32 = {"clip": 0.24, "slip": 0.50, "silc": 1.23, "cosmos": 1.17}
TINY_RUN_OVERHEAD_S = 20.0  # evaluation + set-up per run
TINY_EVAL_S = 25.0  # each evaluation during training (train.eval_every; clip_tiny: 4 of them, 6.1 min in all)


def estimate(cfg: dict) -> str:
    """A one-line cost estimate of a run: wall minutes on the reference CPU at tiny scale, else samples seen."""
    if cfg.get("checkpoint"):
        return f"eval-only ({len(cfg['eval']['sets'])} evaluations of {cfg['checkpoint']})"
    steps, batch = cfg["train"]["steps"], cfg["train"]["batch_size"]
    if cfg["scale"] == "tiny" and cfg["method"] in TINY_SECONDS_PER_STEP_B32:
        every = cfg["train"]["eval_every"]
        evals = (steps - 1) // every if every else 0
        sec = TINY_SECONDS_PER_STEP_B32[cfg["method"]] * steps * batch / 32 + TINY_RUN_OVERHEAD_S + TINY_EVAL_S * evals
        return f"~{sec / 60:.1f} min on a 2-core CPU"
    return f"{steps * batch:,} samples ({steps:,} steps x global batch {batch})"
