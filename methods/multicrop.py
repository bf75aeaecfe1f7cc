"""What SiLC and COSMOS share: DINO multi-crop image views and an EMA teacher of the student (composition of
methods.modules parts; each method adds its own heads and losses).

Views: 2 global crops at the encoder's resolution, scale (crop_split, 1), DINO augmentations (blur 1.0 on the
first, blur 0.1 + solarize 0.2 on the second); `local_crops` crops at `local_size` px, scale (0.05, crop_split),
blur 0.5. Both global crops go through the encoder in one pass, all local crops in another.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn

from .base import Method
from .contrastive import ContrastiveConfig
from .data.views import DINO_GLOBAL1, DINO_GLOBAL2, DINO_LOCAL, Augment, ImageView
from .encoders import POS_INTERP
from .modules import EMA_SCHEDULES, EMATeacher, ema_momentum, encode_views, horizon_momentum, views_first

EVAL_WEIGHTS = ("student", "teacher")
VIEWS = ("official", "scaled", "gentle")
# The sizes DINO's (and COSMOS's) augmentation parameters were set for: 224-px global and 96-px local crops.
OFFICIAL_GLOBAL_SIZE, OFFICIAL_LOCAL_SIZE = 224, 96
EMA_ORDERS = ("after_step", "before_step")


@dataclasses.dataclass(frozen=True)
class MultiCropConfig(ContrastiveConfig):
    local_crops: int = 6
    """Number of local crops (COSMOS: 6; SiLC: 8)."""
    local_size: int = 96
    """Local crop resolution in px (DINO / COSMOS: 96 for 224-px global crops); a multiple of the patch size.
    0: by `local_size_rule` from the global crop size and the patch (the official 96 at 224 px, patch 16)."""
    crop_split: float = 0.4
    """Scale boundary: global crops (crop_split, 1.0), local crops (0.05, crop_split) (DINO, COSMOS, SiLC)."""
    ema_momentum: float = 0.999
    """Teacher EMA momentum: COSMOS uses 0.999 at batch 1024 (CC3M) and 0.99 at 4096; SiLC gives no value and
    COSMOS cites it for the fixed schedule."""
    ema_horizon: float = 0.0
    """The teacher momentum as a share of the run: > 0 sets the (base) momentum to 1 - 1 / (ema_horizon x steps),
    so the teacher averages the same fraction of any run (modules.OFFICIAL_EMA_HORIZON = 0.0113: the official
    0.999 at CC3M's 88,576 steps; 0.911 at 1,000 steps). 0: `ema_momentum` as given, whatever the run length."""
    ema_schedule: str = "fixed"
    """fixed (SiLC / COSMOS) or cosine to 1 (DINO)."""
    ema_order: str = "after_step"
    """When the teacher tracks the student: "after_step" (DINO, SiLC: from the updated student, after the
    optimiser step) or "before_step" (the official COSMOS code: from the pre-step student, between backward and
    the optimiser step; one step of lag)."""
    pos_interp: str = "dino"
    """Positional embedding for local crops: "dino" (DINO's and the official COSMOS code's bicubic interpolation
    by scale factor (grid + 0.1) / grid, which samples a grid shifted by up to 0.25 patch) or "size" (bicubic
    to the target grid size, align_corners=False)."""
    views: str = "official"
    """The image views' photometric rule (VIEWS): "official" = DINO's augmentations exactly (blur sigma U(0.1, 2)
    px at any size); "scaled" = the same with the blur sigma scaled by crop size / official crop size (224 px
    global, 96 px local), so a 64-px crop is blurred as its 224-px original would be; "gentle" = the crops with
    scaled blur only (no flip, colour jitter, grayscale or solarize): a diagnosis, not a recipe."""
    eval_weights: str = "teacher"
    """Which weights evaluation uses: the EMA teacher (COSMOS evaluates segmentation with it; retrieval and
    classification were logged for both) or the student."""

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.local_crops <= 64 or not 0 <= self.local_size <= 1024:
            raise ValueError(f"local_crops must lie in [0, 64] and local_size in [0, 1024] px (0: by rule), got "
                             f"{self.local_crops}, {self.local_size}")
        if not 0.05 < self.crop_split < 1:
            raise ValueError(f"crop_split must lie in (0.05, 1), got {self.crop_split}")
        if not 0 <= self.ema_momentum <= 1:
            raise ValueError(f"ema_momentum must lie in [0, 1], got {self.ema_momentum}")
        if self.ema_schedule not in EMA_SCHEDULES:
            raise ValueError(f"unknown ema_schedule {self.ema_schedule!r}; valid choices: {', '.join(EMA_SCHEDULES)}")
        if self.ema_order not in EMA_ORDERS:
            raise ValueError(f"unknown ema_order {self.ema_order!r}; valid choices: {', '.join(EMA_ORDERS)}")
        if self.pos_interp not in POS_INTERP:
            raise ValueError(f"unknown pos_interp {self.pos_interp!r}; valid choices: {', '.join(POS_INTERP)}")
        if self.ema_horizon < 0:
            raise ValueError(f"ema_horizon must be >= 0, got {self.ema_horizon}")
        if self.views not in VIEWS:
            raise ValueError(f"unknown views {self.views!r}; valid choices: {', '.join(VIEWS)}")
        if self.eval_weights not in EVAL_WEIGHTS:
            raise ValueError(f"unknown eval_weights {self.eval_weights!r}; valid choices: {', '.join(EVAL_WEIGHTS)}")


def multicrop_views(cfg: MultiCropConfig, size: int, patch_size: int, local: bool = True) -> dict[str, ImageView]:
    """DINO multi-crop view specs for global crops of `size` px (see the module docstring)."""
    local_size = cfg.local_size or local_size_rule(size, patch_size)
    if local_size % patch_size:
        raise ValueError(f"local_size {local_size} is not a multiple of the patch size {patch_size}")
    views = {"global1": ImageView(size, (cfg.crop_split, 1.0), augment=view_augment(DINO_GLOBAL1, cfg.views, size)),
             "global2": ImageView(size, (cfg.crop_split, 1.0), augment=view_augment(DINO_GLOBAL2, cfg.views, size))}
    if cfg.local_crops and local:
        augment = view_augment(DINO_LOCAL, cfg.views, local_size, OFFICIAL_LOCAL_SIZE)
        views["local"] = ImageView(local_size, (0.05, cfg.crop_split), augment=augment, n=cfg.local_crops)
    return views


def local_size_rule(global_size: int, patch_size: int) -> int:
    """The local crop size that keeps the official local:global share (96 / 224 px) of the global crop, rounded
    up to whole patches (a crop of at least the official share, never under one patch). Official at 224 px,
    patch 16: 96 px, a 6x6 token grid. 64 px, patch 16: 32 px (2x2 tokens, the tiny profile's); 64 px, patch 8:
    32 px (4x4 tokens, as close to the official 6x6 as a 64-px benchmark allows without a patch-4 tower, whose
    7x7 local and 16x16 global grids cost 4x patch 8's tokens)."""
    patches = -(-global_size * OFFICIAL_LOCAL_SIZE // (OFFICIAL_GLOBAL_SIZE * patch_size))  # exact ceiling
    return patch_size * max(1, patches)


def view_augment(official: Augment, rule: str, size: int, official_size: int = OFFICIAL_GLOBAL_SIZE) -> Augment:
    """A crop's photometric augmentations under the `views` rule (MultiCropConfig.views): the official ones, the
    official ones with the blur sigma scaled by size / official_size, or (gentle) only that scaled blur."""
    if rule == "official":
        return official
    scaled = dataclasses.replace(official, blur_scale=size / official_size)
    return scaled if rule == "scaled" else Augment(blur=official.blur, blur_scale=size / official_size)


class MultiCropMethod(Method):
    """A Method with multi-crop views and an EMA teacher over `self.student` (set by the subclass before
    calling `init_teacher`)."""

    # tiny: the local-crop resolution scaled with the global one (96/224 of 64 px -> 32 px), and the teacher
    # momentum, which the papers tie to the length of training (0.999 over ~88k steps at batch 1024); tiny uses
    # 0.99 (COSMOS's value for batch 4096). Over the tiny profile's 100 steps the teacher still holds 0.99^100 = 37%
    # of its random initialisation (0.999 would hold 90%): the ablations' "evaluate the student" and "EMA momentum"
    # rows measure what that costs at tiny (docs/findings.md, "The budget study"); at 1,000 steps 0.99^1000 < 1e-4.
    SCALE_FIELDS = {"tiny": {"local_size": 32, "ema_momentum": 0.99}}
    ADDED_DEFAULTS = Method.ADDED_DEFAULTS | {"ema_order": "after_step", "pos_interp": "size", "ema_horizon": 0.0, "views": "official"}

    def init_teacher(self, student: nn.Module) -> None:
        # the student's parts are this method's own submodules already: keep the grouping unregistered, or every
        # student tensor would sit in the state dict (and checkpoints) twice, under two names
        object.__setattr__(self, "student", student)
        self.encoders.pos_interp = self.cfg.pos_interp  # before the copy: the teacher's encoders interpolate alike
        self.teacher = EMATeacher(student)

    def image_views(self, local: bool = True) -> dict[str, ImageView]:
        """The global crops, and the local crops when `local` (a method leaves them out when nothing uses them)."""
        return multicrop_views(self.cfg, self.encoders.image_size, self.encoders.patch_size, local)

    def encode_crops(self, batch: dict, project: bool = True):
        """Student image features: (global pooled (2, B, D), global tokens (2, B, N, W), local pooled (n, B, D)
        or None); one encoder pass per resolution."""
        fn = lambda x: self.encoders.image_forward(x, project=project)  # noqa: E731
        g_pooled, g_tokens = encode_views(fn, views_first(batch["global1"], batch["global2"]))
        local = encode_views(fn, views_first(batch["local"]))[0] if "local" in batch else None
        return g_pooled, g_tokens, local

    def teacher_encoders(self):
        return self.teacher.module["encoders"]

    _eval_weights: str = ""  # set inside evaluating(): the weights evaluation uses instead of cfg.eval_weights

    def eval_encoders(self):
        weights = self._eval_weights or self.cfg.eval_weights
        return self.teacher_encoders() if weights == "teacher" else self.encoders

    def other_weights(self) -> tuple[str, ...]:
        return tuple(w for w in EVAL_WEIGHTS if w != self.cfg.eval_weights)

    @contextlib.contextmanager
    def evaluating(self, weights: str):
        if weights not in EVAL_WEIGHTS:
            raise ValueError(f"unknown weights {weights!r}; valid choices: {', '.join(EVAL_WEIGHTS)}")
        before, self._eval_weights = self._eval_weights, weights
        try:
            yield
        finally:
            self._eval_weights = before

    @staticmethod
    def base_momentum(cfg, total_steps: int) -> float:
        """The teacher's base momentum in a run of total_steps: ema_momentum, or with ema_horizon > 0 the momentum
        whose averaging horizon is that share of the run."""
        return horizon_momentum(cfg.ema_horizon, total_steps) if cfg.ema_horizon else cfg.ema_momentum

    @classmethod
    def derived(cls, cfg, train) -> dict[str, object]:
        return {"ema_momentum": cls.base_momentum(cfg, train.steps)} if cfg.ema_horizon else {}

    def _ema(self, step: int, total_steps: int) -> None:
        base = self.base_momentum(self.cfg, total_steps)
        self.teacher.update(self.student, ema_momentum(base, self.cfg.ema_schedule, step, total_steps))

    def on_before_step(self, step: int, total_steps: int) -> None:
        if self.cfg.ema_order == "before_step":
            self._ema(step, total_steps)

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self.cfg.ema_order == "after_step":
            self._ema(step, total_steps)

    def teacher_image(self, batch: dict, project: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher (pooled, tokens) on the two global crops, (2, B, ...), without gradient."""
        fn = lambda x: self.teacher_encoders().image_forward(x, project=project)  # noqa: E731
        with torch.no_grad():
            return encode_views(fn, views_first(batch["global1"], batch["global2"]))
