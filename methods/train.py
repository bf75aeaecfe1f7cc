"""THE training loop: one step-based function for every method, on CPU, one GPU, or many under torchrun.

build -> resume -> for step: lr from the schedule, forward under autocast, NaN guard, backward, `on_before_step`
(COSMOS's EMA), optional clip, optimiser step, logit-scale clamp, `on_step_end` (DINO-order EMA), log, periodic
eval, atomic checkpoint.
The loop knows only the Method contract (methods/base.py); it never branches on a method's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist

from . import distributed
from .base import Method
from .checkpoint import RunCheckpoint
from .data.fast_ops import VIEW_OPS
from .data.on_device import to_device
from .data.stream import MAX_PIXELS, ShardStream, make_loader
from .data.views import AUGMENT_ON
from .errors import CheckpointError, DivergedError
from .progress import bar as progress_bar
from .schedules import warmup_cosine

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Sizes that allocate, bounded so a typo is one line, not an allocator traceback: the largest published
# contrastive batches are 32k (OpenCLIP, SigLIP); a shuffle buffer holds decoded-ready raw samples in memory.
MAX_BATCH = 65_536
MAX_SHUFFLE_BUFFER = 1_000_000
MAX_STEPS = 100_000_000  # 1,000x the papers' longest recipe: a larger count is a typo, not a plan
SPLITS = ("shards", "samples")


WANDB_MODES = ("", "offline")  # online logging is left out on purpose: runs must not need the network


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation recipe. Defaults are the COSMOS paper's (methods.md: AdamW lr 5e-4, wd 0.5, betas
    (0.9, 0.98), eps 1e-8, 2000 warmup steps then cosine to 0, no clipping); scales override sizes and steps."""

    steps: int = 88_576  # 32 epochs x 2,768 steps on CC3M-recap at batch 1024
    batch_size: int = 1024  # global: all ranks together (each rank takes batch_size / world size)
    lr: float = 5e-4
    weight_decay: float = 0.5
    warmup: int = 2000
    warmup_start: float = 0.0  # lr the linear warmup starts from (SLIP: 1e-6)
    min_lr: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
    grad_clip: float = 0.0  # max grad norm; 0 disables (the papers do not clip)
    precision: str = "auto"  # auto = bf16 autocast on GPU, fp32 on CPU
    ckpt_every: int = 200
    eval_every: int = 0  # 0 = evaluate only at the end
    log_every: int = 10
    tf32: bool = False  # on CUDA: TF32 matmuls and convolutions in fp32 parts (the official COSMOS code enables it)
    compile: bool = False  # torch.compile the method's forward (GPU runs; the first steps pay the compilation)
    tensorboard: str = ""  # a folder: every logged scalar also goes to TensorBoard event files (a subfolder per run)
    accum_freq: int = 1  # > 1: each step's batch in that many micro-batches, the gradient of the whole batch
    # (open_clip's --accum-freq: features cached, loss over the full batch); methods with features/loss only
    wandb: str = ""  # "offline": every logged scalar also goes to a Weights & Biases run in offline mode (files in
    # <runs dir>/wandb, `wandb sync` uploads them later); "": none. Optional package, off by default
    grad_checkpointing: bool = False  # open_clip's set_grad_checkpointing: recompute the towers' blocks in the
    # backward pass instead of keeping their activations (memory for time; the same gradients)
    lock_image: bool = False  # LiT: freeze the image tower (open_clip's lock_image_tower; --lock-image)
    lock_text: bool = False  # freeze the text tower (open_clip's lock_text_tower; --lock-text)
    profile: int = 0  # > 0: torch.profiler over that many steps after 2 warm-up steps; a Chrome trace in the run

    def __post_init__(self):
        if self.wandb not in WANDB_MODES:
            raise ValueError(f"unknown train.wandb {self.wandb!r}; valid choices: {', '.join(map(repr, WANDB_MODES))}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid choices: {', '.join(PRECISIONS)}")
        _check_ranges(self, positive=("steps", "batch_size", "ckpt_every", "log_every", "lr", "eps", "accum_freq"),
                      non_negative=("warmup", "warmup_start", "eval_every", "weight_decay", "min_lr", "grad_clip",
                                    "profile"),
                      unit=("beta1", "beta2"), at_most={"batch_size": MAX_BATCH, "steps": MAX_STEPS})


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the training shards come from and how they are read."""

    dataset: str = "scenes"  # the bundled synthetic benchmark; or "shards" with `shards` set
    scenes: str = "tiny"  # which benchmark preset (methods.data.scenes.PRESETS) when dataset=scenes
    shards: str = ""  # a folder of .tar files or a brace pattern (e.g. /data/cc3m/{000000..000331}.tar)
    workers: int = 2
    shuffle_buffer: int = 1000
    resampled: bool = False  # sample shards with replacement (long runs on many ranks)
    # How ranks share the data. "shards": each rank reads its own shards (the scalable default). "samples": every
    # rank reads the same stream and keeps every world-th sample, so the global batches, their augmentations and
    # hence the run are the same for any number of ranks (torchrun matches one process), at world x the reading.
    split: str = "shards"
    # Where the photometric augmentations (colour jitter, grayscale, blur, solarize) run: "workers" (PIL, in the
    # data workers, as the papers' code) or "device" (batched on the training device with Pillow's arithmetic, from
    # parameters the workers draw as the worker path does: the same batch bit for bit; methods/data/on_device.py):
    # for GPU nodes with few CPU cores per GPU.
    augment: str = "workers"
    # How the workers run their ops (methods/data/fast_ops.py): "pil" (torchvision's PIL transforms, as the papers'
    # code), "exact" (the same tensors, faster: table-driven hue, each sentence tokenised once), "fast" ("exact"
    # with crops resized by torch's uint8 antialiased kernel: near-equal pixels, benchmarks/README.md).
    view_ops: str = "pil"
    # Decode a JPEG at a reduced size (the decoder's 1/2, 1/4 or 1/8 DCT scaling, PIL's draft) when its shorter
    # side stays at least twice the largest training crop: faster decoding, different pixels and crop boxes (the
    # measured effect: benchmarks/README.md). Off: every image decoded whole, as the papers' code.
    jpeg_draft: bool = False
    max_pixels: int = MAX_PIXELS  # a training image larger than this (width x height) is a counted skip

    def __post_init__(self):
        _check_ranges(self, positive=("max_pixels",), non_negative=("workers", "shuffle_buffer"),
                      at_most={"shuffle_buffer": MAX_SHUFFLE_BUFFER, "workers": 256})
        if self.split not in SPLITS:
            raise ValueError(f"unknown data.split {self.split!r}; valid choices: {', '.join(SPLITS)}")
        if self.augment not in AUGMENT_ON:
            raise ValueError(f"unknown data.augment {self.augment!r}; valid choices: {', '.join(AUGMENT_ON)}")
        if self.view_ops not in VIEW_OPS:
            raise ValueError(f"unknown data.view_ops {self.view_ops!r}; valid choices: {', '.join(VIEW_OPS)}")


def _check_ranges(cfg, positive=(), non_negative=(), unit=(), at_most=None) -> None:
    """Numeric fields must be finite and in range: `positive` > 0, `non_negative` >= 0, `unit` in [0, 1), and
    each field of `at_most` (name -> bound) at most its bound (sizes that allocate)."""
    for name, bound in (at_most or {}).items():
        if getattr(cfg, name) > bound:
            raise ValueError(f"{name}={getattr(cfg, name)} must be <= {bound}")
    for name in (*positive, *non_negative, *unit):
        v = getattr(cfg, name)
        if not math.isfinite(v):
            raise ValueError(f"{name}={v} must be a finite number")
        if name in positive and v <= 0:
            raise ValueError(f"{name}={v} must be > 0")
        if name in non_negative and v < 0:
            raise ValueError(f"{name}={v} must be >= 0")
        if name in unit and not 0 <= v < 1:
            raise ValueError(f"{name}={v} must be in [0, 1)")


class Logger(Protocol):
    def scalar(self, name: str, value: float, step: int) -> None: ...

    def info(self, key: str, value) -> None: ...


class NonFiniteLoss(DivergedError):
    """The loss became NaN/inf: training stops, the last good checkpoint is kept, the run is marked failed."""


# A weight larger than this in magnitude is a diverged run, never a checkpoint: trained CLIP-family weights are O(1)
# (the logit scale is clamped to ln 100), and an exploding update lands orders of magnitude above it.
WEIGHT_LIMIT = 1e6


def check_weights(method: torch.nn.Module) -> str | None:
    """None if every floating weight and buffer is finite and below WEIGHT_LIMIT, else what is wrong."""
    for name, t in method.state_dict().items():
        if not t.is_floating_point() or not t.numel():
            continue
        peak = t.detach().abs().max().item()  # NaN if any entry is NaN, inf if any is infinite: one pass
        if not math.isfinite(peak):
            return f"weights {name} are not finite"
        if peak > WEIGHT_LIMIT:
            return f"weights exploded (max |{name}| = {peak:.3g} > {WEIGHT_LIMIT:.0e})"
    return None


def autocast_context(precision: str, device: torch.device):
    """The step's autocast: bf16 on CUDA and on CPU (torch's CPU autocast: the same regions as on a GPU, so the
    GPU's dtype path runs and is tested on a CPU); fp16 on CUDA only (it needs loss scaling, GradScaler's CUDA
    path; on CPU it runs fp32); fp32 none."""
    if precision == "bf16" and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def setup_device() -> torch.device:
    """cuda:LOCAL_RANK under torchrun with GPUs, else cpu; initialises the process group when WORLD_SIZE > 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def optimisation_step(model, method: Method, batch: dict, opt, scaler, lr: float, grad_clip: float,
                      precision: str, device: torch.device, step: int = 0, total: int = 1, accum_freq: int = 1
                      ) -> dict[str, torch.Tensor]:
    """One step: set lr, forward under autocast, NaN guard, backward (over `accum_freq` micro-batches:
    `accumulated_backward`), `on_before_step`, optional clip, optimiser step, logit-scale clamp."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    if accum_freq > 1:
        out = accumulated_backward(model, method, batch, accum_freq, scaler, precision, device)
    else:
        with autocast_context(precision, device):
            out = model(batch)
        _check_finite(out["loss"])
        scaler.scale(out["loss"]).backward()
    method.on_before_step(step, total)
    if grad_clip > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(method.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()
    method.clamp_logit_scales()
    return out


def _check_finite(loss: torch.Tensor) -> None:
    if not torch.isfinite(loss.detach()).all():
        raise NonFiniteLoss(f"loss is {loss.item()}")


def micro_batches(batch: dict[str, torch.Tensor], n: int) -> list[dict[str, torch.Tensor]]:
    """The batch in n equal consecutive parts (every tensor is batch-first)."""
    size = next(iter(batch.values())).shape[0]
    if size % n:
        raise ValueError(f"train.accum_freq={n} does not divide the per-rank batch of {size}")
    return [{k: v[i * size // n:(i + 1) * size // n] for k, v in batch.items()} for i in range(n)]


def accumulated_backward(model, method: Method, batch: dict, n: int, scaler, precision: str,
                         device: torch.device) -> dict[str, torch.Tensor]:
    """open_clip's gradient accumulation (--accum-freq): the features of n micro-batches without gradient, then per
    micro-batch a forward with gradient and a backward of the loss over the whole batch in which only its
    features carry gradient. The features' gradients sum to those of one big batch; the loss-only parameters
    (temperature, bias) get the same gradient in every pass and are averaged here, so the step equals one big
    batch's (open_clip sums them: n times the big batch's gradient). Returns the last pass's output."""
    parts = micro_batches(batch, n)
    with torch.no_grad(), autocast_context(precision, device):
        cached = [method.features(p) for p in parts]
    for j, part in enumerate(parts):
        with autocast_context(precision, device):
            out = model(part, accumulated=(cached, j))
        _check_finite(out["loss"])
        scaler.scale(out["loss"]).backward()
    for p in method.loss_only_parameters():
        if p.grad is not None:
            p.grad.div_(n)
    return out


def lock_towers(method: Method, cfg: TrainConfig) -> None:
    """LiT-style locked towers with open_clip's own lock functions (every parameter of the tower frozen; the
    optimiser then leaves them out). A teacher's EMA copy of a frozen tower stays equal to it."""
    if cfg.lock_image:
        method.encoders.model.lock_image_tower()
    if cfg.lock_text:
        method.encoders.model.lock_text_tower()


class Profiler:
    """torch.profiler over `steps` training steps after 2 warm-up steps (train.profile; rank 0), written as a
    Chrome trace (ckpt_dir/profile/trace.json, open in chrome://tracing or Perfetto) with the top operators by
    self time in profile/ops.txt. steps=0: nothing."""

    WARMUP = 2

    def __init__(self, steps: int, ckpt_dir: Path, rank: int):
        self.prof = None
        if steps > 0 and rank == 0:
            from torch.profiler import ProfilerActivity, profile, schedule

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
            self.out = Path(ckpt_dir) / "profile"
            self.prof = profile(activities=acts, schedule=schedule(wait=0, warmup=self.WARMUP, active=steps,
                                                                    repeat=1), on_trace_ready=self._write)
            self.prof.__enter__()

    def _write(self, prof) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(self.out / "trace.json"))
        (self.out / "ops.txt").write_text(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))

    def step(self) -> None:
        if self.prof is not None:
            self.prof.step()

    def close(self) -> None:
        if self.prof is not None:
            self.prof.__exit__(None, None, None)
            self.prof = None


def _all_ranks(obj) -> list:
    """obj from every rank, in rank order (a one-element list without distributed)."""
    if not distributed.is_distributed():
        return [obj]
    parts = [None] * distributed.world_size()
    dist.all_gather_object(parts, obj)
    return parts


def train(method: Method, urls: list[str], cfg: TrainConfig, data: DataConfig, *, seed: int, ckpt_dir: Path,
          logger: Logger, evaluate: Callable[[Method, int], dict[str, float]] | None = None,
          progress: bool = True) -> dict[str, float]:
    """Train `method` for cfg.steps on the shards in `urls`, resuming from ckpt_dir/last.pt if present.
    `evaluate(method, step)` runs every cfg.eval_every steps and at the end.

    Returns the final evaluation metrics (on every rank; only rank 0 computes them)."""
    t0 = time.time()
    device = setup_device()
    rank, world = distributed.rank(), distributed.world_size()
    if cfg.batch_size % world:
        raise ValueError(f"train.batch_size={cfg.batch_size} (global) does not divide over {world} ranks")
    if cfg.accum_freq > 1 and not method.accumulates():
        raise ValueError(f"train.accum_freq={cfg.accum_freq}: {method.name} does not split its loss into per-sample "
                         "features and a loss over them (Method.features / Method.loss), so accumulation cannot "
                         "give it one big batch's gradient")
    if (cfg.batch_size // world) % cfg.accum_freq:
        raise ValueError(f"train.accum_freq={cfg.accum_freq} does not divide the per-rank batch of "
                         f"{cfg.batch_size // world}")
    torch.manual_seed(seed)
    method.to(device)
    model = method
    if world > 1:
        if device.type == "cuda":  # BatchNorm in heads (SLIP) syncs statistics over the global batch;
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)  # torch's SyncBN has no CPU kernel
        model = torch.nn.parallel.DistributedDataParallel(
            method, device_ids=[device.index] if device.type == "cuda" else None)
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.tf32
    if cfg.compile:
        model = torch.compile(model)
    lock_towers(method, cfg)
    if cfg.grad_checkpointing:
        method.encoders.model.set_grad_checkpointing(True)
    # fused AdamW (one kernel for all parameters) on CUDA; elsewhere torch's default, which the logged CPU runs used
    opt = torch.optim.AdamW(method.param_groups(cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            eps=cfg.eps, fused=True if device.type == "cuda" else None)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")

    ckpt = RunCheckpoint(ckpt_dir, rank, world, readers=world * max(data.workers, 1))
    state = ckpt.resume(method, opt, scaler, logger)

    def checkpoint(done: bool) -> None:
        ranks = _all_ranks((state.positions, state.skipped, state.tar_errors))  # per-rank stream state
        bad = check_weights(method)  # a diverged model never replaces the last good checkpoint
        if bad:
            raise DivergedError(f"{bad} at step {state.step}; kept the checkpoint of step {ckpt.kept_step()}")
        if rank == 0:
            ckpt.save(method, opt, scaler, state, ranks, done)

    workers = data.workers
    stream = ShardStream(urls, method.views, method.encoders.tokenizer(), cfg.batch_size // world, seed=seed,
                         shuffle_buffer=data.shuffle_buffer, resampled=data.resampled, rank=rank, world_size=world,
                         interleave=data.split == "samples", augment=data.augment, view_ops=data.view_ops,
                         max_pixels=data.max_pixels, jpeg_draft=data.jpeg_draft,
                         start=state.positions, rotation=state.step % max(workers, 1))
    batches = iter(make_loader(stream, workers)) if state.step < cfg.steps else iter(())
    bar = progress_bar(total=cfg.steps, initial=state.step, desc=f"train {method.name}",
                       show=None if progress and rank == 0 else False)  # None: on a terminal only
    model.train()
    waited = busy = 0.0  # seconds waiting for data / in the rest of the loop since the last logged step
    profiler = Profiler(cfg.profile, ckpt_dir, rank)
    try:
        while state.step < cfg.steps:
            t_wait = time.perf_counter()
            batch, meta = next(batches)
            t_got = time.perf_counter()
            waited += t_got - t_wait
            state.advance(meta)
            batch = to_device(batch, device, method.encoders.image_mean, method.encoders.image_std)
            step = state.step
            lr = warmup_cosine(step, cfg.steps, cfg.lr, cfg.warmup, cfg.min_lr, cfg.warmup_start)
            try:
                out = optimisation_step(model, method, batch, opt, scaler, lr, cfg.grad_clip, precision, device,
                                        step, cfg.steps, cfg.accum_freq)
            except NonFiniteLoss as exn:
                if rank == 0:
                    ckpt.demote_if_at(step)  # its weights gave this loss: the one before is the last good one
                raise NonFiniteLoss(f"{exn} at step {step}; kept the checkpoint of step {ckpt.kept_step()}") from None
            method.on_step_end(step, cfg.steps)
            state.step = step = step + 1
            bar.update(1)
            profiler.step()
            busy += time.perf_counter() - t_got
            if step % cfg.log_every == 0 or step == cfg.steps:
                scalars = {k: float(v.detach()) for k, v in out.items() if v.numel() == 1}
                bar.set_postfix(loss=f"{scalars['loss']:.3f}")
                if rank == 0:
                    for k, v in scalars.items() | {"lr": lr}.items():
                        logger.scalar(f"train/{k}", v, step)
                    n = step % cfg.log_every or cfg.log_every  # steps since the last logged one
                    logger.scalar("perf/samples_per_s", n * cfg.batch_size / max(waited + busy, 1e-9), step)
                    logger.scalar("perf/data_wait_frac", waited / max(waited + busy, 1e-9), step)
                waited = busy = 0.0
            if evaluate and cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                _evaluate(method, evaluate, logger, step, rank)
            if step % cfg.ckpt_every == 0 and step < cfg.steps:
                checkpoint(done=False)
    finally:  # a failure ends the bar's line, so the one-line error starts on its own
        bar.close()
        profiler.close()
    checkpoint(done=True)
    logger.info("skipped_samples", sum(_all_ranks(state.skipped)))  # every rank reads its own shards
    logger.info("unreadable_tar_errors", sum(_all_ranks(state.tar_errors)))
    metrics = _evaluate(method, evaluate, logger, state.step, rank) if evaluate else {}
    logger.info("wall_time_s", round(time.time() - t0, 2))
    return metrics


def _evaluate(method: Method, evaluate, logger: Logger, step: int, rank: int) -> dict[str, float]:
    metrics = {}
    if rank == 0:
        method.eval()
        metrics = evaluate(method, step)
        method.train()
        for k, v in metrics.items():
            if isinstance(v, float) and math.isfinite(v):
                logger.scalar(k, v, step)
    if distributed.is_distributed():
        dist.barrier()
    return metrics
