"""The Method contract every method implements; the loop and the evaluators know nothing else.

- `views`: batch key -> view spec; the data pipeline builds exactly these.
- `forward(batch) -> dict`: "loss" (the total), terms ending in `_loss`, other scalars as diagnostics.
- `encode_image`, `encode_text` (L2-normalised) and `image_tokens` (dense patch features in the joint space):
  the only surface evaluators use, so every method is scored by the same code.
- `param_groups(wd)`, `clamp_logit_scales()`, `on_before_step(step, total)` (after backward, before the optimiser
  step) and `on_step_end(step, total)` (after it) keep the loop method-agnostic.
- Optional: `cross_attention_maps(images, tokens)` (figures; none by default), `other_weights()` + `evaluating(w)`
  (a second set of weights evaluated and logged beside the configured one), and the class metadata below, which
  the experiment side reads instead of naming methods: SCALE_FIELDS, TINY_SECONDS_PER_STEP_B32, ADDED_DEFAULTS,
  derived(cfg, train), synthetic_captions_needed(cfg); and `release_layout` (the official release format holds
  this model: `export --format release`).
- Optional, for gradient accumulation (`train.accum_freq`, open_clip's `--accum-freq`): `features(batch)` (the
  per-sample tensors, batch-first, that the loss couples across the batch) and `loss(features)`, with `forward`
  their composition. A method whose loss couples samples anywhere else (a batch-norm head, a teacher's centre)
  does not define them and refuses accumulation.
"""

from __future__ import annotations

import contextlib

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from . import contrastive
from .encoders import Encoders

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the learnable temperature at 100


class Method(nn.Module):
    Config: ClassVar[type]
    name: ClassVar[str]
    # scale -> {Config field: value}: what a scale changes in the method's own fields beyond the shared profile
    # (experiments/scales.py): sizes, and what the papers tie to the length of training.
    SCALE_FIELDS: ClassVar[dict[str, dict]] = {}
    # Measured seconds per training step at batch 32 on the reference 2-core CPU at tiny scale (the dry run's cost
    # estimate; None: not measured).
    TINY_SECONDS_PER_STEP_B32: ClassVar[float | None] = None
    # Config fields added after runs were logged -> the value that reproduces the old behaviour exactly: at that
    # value a field stays out of the fingerprint, so logged runs keep their identity when the schema grows.
    ADDED_DEFAULTS: ClassVar[dict[str, object]] = {"contrastive": "softmax"}  # every Config's (ContrastiveConfig)

    @classmethod
    def derived(cls, cfg, train) -> dict[str, object]:
        """Config field -> the value a rule derives for a run of `cfg` (this method's Config) trained as `train`
        (a TrainConfig), where the run uses something other than the field as written (e.g. a teacher momentum set
        by the length of the run); `run.py config` prints them. None by default."""
        return {}

    @classmethod
    def encoder_options(cls, cfg) -> dict:
        """open_clip model arguments `cfg` (this method's Config) needs: the image-text term's initialisation
        (methods/contrastive.py)."""
        return contrastive.encoder_options(cfg)

    @classmethod
    def synthetic_captions_needed(cls, cfg) -> str:
        """The setting of `cfg` (this method's Config) that needs synthetic captions in the training shards (raw
        alt-text cannot feed it), or "" when none does; the preflight checks the shards for it."""
        return ""

    def __init__(self, cfg, encoders: Encoders):
        super().__init__()
        self.cfg, self.encoders = cfg, encoders

    @property
    def views(self) -> dict[str, object]:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor], accumulated: tuple[list[dict], int] | None = None
                ) -> dict[str, torch.Tensor]:
        """The loss of `batch`; with `accumulated` = (the features of every micro-batch of the step, computed
        without gradient; this micro-batch's index), the loss of the whole step's batch in which only this
        micro-batch's features carry gradient (open_clip's accumulation)."""
        features = self.features(batch)
        if accumulated is not None:
            cached, j = accumulated
            features = {k: torch.cat([f[k] for f in cached[:j]] + [v] + [f[k] for f in cached[j + 1:]])
                        for k, v in features.items()}
        return self.loss(features)

    def features(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Optional: the per-sample tensors (batch-first) the loss couples across the batch (see `loss`)."""
        raise NotImplementedError

    def loss(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Optional: forward's output from `features` of the whole batch."""
        raise NotImplementedError

    @classmethod
    def accumulates(cls) -> bool:
        """Whether gradient accumulation (train.accum_freq) can give this method the gradient of one big batch:
        it splits its forward into `features` and `loss`."""
        return cls.features is not Method.features and cls.loss is not Method.loss

    def loss_only_parameters(self) -> list[nn.Parameter]:
        """Parameters the loss reads directly, not through the features (the learnable temperature and bias)."""
        return [p for name, p in self.named_parameters() if name.endswith(("logit_scale", "logit_bias"))]

    @property
    def release_layout(self) -> bool:
        """Whether the official COSMOS release checkpoint layout (student + EMA teacher, methods/interop.py) holds
        this model; `run.py export --format release` and `init=<release file>` need it."""
        return False

    def eval_encoders(self) -> Encoders:
        """The weights evaluation uses; methods with a teacher make this configurable (student / teacher)."""
        return self.encoders

    def other_weights(self) -> tuple[str, ...]:
        """Optional: names of weights besides those evaluation uses (a teacher's student, say); the run evaluates
        each too, inside `evaluating(name)`, and logs it under "<name>/<metric>"."""
        return ()

    @contextlib.contextmanager
    def evaluating(self, weights: str):
        """Within the block, evaluation uses the named weights (one of `other_weights()`)."""
        raise ValueError(f"{self.name} has no weights {weights!r}")
        yield

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.eval_encoders().encode_image(images)

    @torch.no_grad()
    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.eval_encoders().encode_text(tokens)

    @torch.no_grad()
    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, N, D) L2-normalised patch features through the visual projection (dense, for segmentation)."""
        enc = self.eval_encoders()
        return F.normalize(enc.project_image_tokens(enc.image_forward(images)[1]), dim=-1)

    @torch.no_grad()
    def dense_features(self, images: torch.Tensor) -> torch.Tensor:
        """(2, B, N, D) as image_tokens: plain, then with SCLIP's correlative self-attention in the last image
        block (one pass through the blocks before it)."""
        enc = self.eval_encoders()
        return F.normalize(enc.project_image_tokens(enc.dense_tokens(images)), dim=-1)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups as in CLIP/open_clip: no weight decay on gains, biases, embeddings' 1-d params, scales."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    @torch.no_grad()
    def clamp_logit_scales(self) -> None:
        """Clamp every learnable log-temperature to [0, ln 100] after each optimiser step."""
        for name, p in self.named_parameters():
            if name.endswith("logit_scale"):
                p.clamp_(0.0, MAX_LOGIT_SCALE)

    def on_before_step(self, step: int, total_steps: int) -> None:
        """Called after backward, before the optimiser step (COSMOS's official EMA update runs here)."""

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after every optimiser step (DINO-order EMA teachers update here)."""

    @torch.no_grad()
    def cross_attention_maps(self, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Optional: name -> (B, ...) attention weights of the method's cross-attention layers, for figures
        (methods/evals/attention.py); a method without such layers has none."""
        return {}
