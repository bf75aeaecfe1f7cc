"""Scale profiles: what `scale=tiny|small|paper` changes in a run config (sizes, steps, data), nothing else.

tiny: this 2-core CPU in minutes, on the bundled synthetic benchmark (64 px).
small: one GPU, ViT-S/16 on the synthetic benchmark at 224 px.
paper: the papers' recipes (methods.md) on real data at user-given local paths, under torchrun / SLURM.
"""

from __future__ import annotations

import dataclasses

from methods import METHODS
from methods.data.scenes import preset
from methods.data.scenes.generate import sample_record
from methods.data.text import join_sentences
from methods.data.views import TextView, build_texts
from methods.encoders import MAX_CONTEXT
from methods.modules import OFFICIAL_EMA_HORIZON

from .comparison import COMPARISON_EVALS

SCALES = ("tiny", "small", "paper")

_PROFILES: dict[str, dict] = {
    # tiny: the fast path. Chosen by two rules stated before any table was run at these settings:
    # - encoder: the candidate of benchmarks/tiny_step.py that reached the highest CLIP benchmark metrics per
    #   CPU-second (benchmarks/README.md, "tiny_step"): patch-16 towers (ViT-Tiny-16-64), 1.5x cheaper per step
    #   than patch 8 and best on every metric after 45 s of training;
    # - budget: the largest multiple of 25 steps at which table3 (4 methods x 3 seeds, evaluations included)
    #   fits 15 minutes on the reference 2-core CPU by `estimate` below (per-step costs measured with
    #   `benchmarks/tiny_step.py --per-step`): 100 steps (3,200 samples; 14.6 min estimated, 125 steps 17.0).
    # At that budget the multi-crop methods have not left chance on several metrics: tiny is for checking that
    # everything runs and for seeing large effects; where each claim appears is the budget study's job
    # (`python experiments/run.py budget`, reports/budget.md). data.augment stays "workers" (PIL, as the papers'
    # code): the batched tensor ops measured no cheaper per step on this CPU (benchmarks/README.md, "tiny_step").
    # lr 3e-4: at 1e-3 the tiny towers sit on the contrastive plateau for ~100 steps (benchmarks/learnability.py).
    "tiny": {
        "encoder": "ViT-Tiny-16-64",
        "train.steps": 100, "train.batch_size": 32, "train.warmup": 10, "train.lr": 3e-4, "train.weight_decay": 0.1,
        "train.ckpt_every": 50, "train.log_every": 10,
        # workers=0: on 2 cores a data worker beside 2 compute threads oversubscribes the CPU (measured slower)
        "data.scenes": "tiny", "data.workers": 0, "data.shuffle_buffer": 500,
        "eval.sets": COMPARISON_EVALS,
    },
    "small": {
        "encoder": "ViT-S-16",
        "train.steps": 20_000, "train.batch_size": 256, "train.warmup": 1000, "train.ckpt_every": 1000,
        "data.scenes": "small", "data.workers": 8, "data.view_ops": "exact", "eval.sets": COMPARISON_EVALS,
    },
    "paper": {
        "encoder": "ViT-B-16",
        "data.dataset": "shards", "data.workers": 8, "data.shuffle_buffer": 5000, "train.ckpt_every": 2000,
        "data.view_ops": "exact",  # the PIL path's tensors bit for bit, faster (benchmarks/README.md)
        "eval.sets": ("retrieval/coco", "retrieval/flickr30k", "classification/imagenet"),
    },
}


# The text-context rule: the context holds every test caption of the benchmark a run is scored on, so no test
# caption is cut (the official 77 tokens cut some real captions too, but a 64-px benchmark whose captions are cut
# at 32 tokens hides most of each scene: at 32, 77% of benchmark v4's test long captions are cut).
CONTEXT_MULTIPLE = 8  # contexts are rounded up to a multiple of 8 tokens (tensor-friendly)


def context_rule(token_lengths) -> int:
    """The text context under the rule above: the smallest multiple of CONTEXT_MULTIPLE holding the longest
    caption (`token_lengths`: tokens per caption, start and end tokens included)."""
    longest = max(token_lengths)
    return -(-longest // CONTEXT_MULTIPLE) * CONTEXT_MULTIPLE


def caption_token_lengths(scenes: str = "tiny", split: str = "test", encoder: str = "ViT-Tiny-16-64") -> list[int]:
    """Tokens (start and end included) of every long caption of a split of the synthetic benchmark preset
    `scenes`, joined as the retrieval evaluation joins them; computed from the generator's scenes (the captions
    depend on the scene alone), so nothing is rendered."""
    import open_clip

    cfg = preset(scenes)
    captions = [join_sentences(c) for i in range(cfg.split_size(split))
                for c in sample_record(cfg, split, i)[1]["long_captions"]]
    ids = open_clip.get_tokenizer(encoder, context_length=MAX_CONTEXT)(captions)
    return (ids != 0).sum(dim=1).tolist()


@dataclasses.dataclass(frozen=True)
class TextCut:
    """What a run's context cuts of the texts it trains on (one text view's global or local texts)."""

    view: str
    kind: str  # "global" or "local"
    draws: int
    cut: int  # texts longer than the context (start and end tokens included)
    longest: int
    lost: float  # mean tokens lost by a cut text

    def line(self, context: int) -> str:
        share = self.cut / self.draws if self.draws else 0.0
        return (f"{share:.1%} of the {self.kind} texts of view '{self.view}' exceed the context of {context} tokens "
                f"and are cut (longest {self.longest}; a cut text loses {self.lost:.1f} tokens on average; "
                f"{self.draws:,} drawn from the training split)")


def training_text_cut(method, scenes: str, context: int, records: int = 1000, seed: int = 0) -> list[TextCut]:
    """The text crops `method` (a built Method) trains on (its "textcrop" views), drawn by its own views from the
    first `records` training scenes of the synthetic benchmark preset `scenes` (caption fields only; nothing is
    rendered), against `context` tokens. The context rule sizes the context to the test captions, which whole
    training captions share; this says what it cuts of the crops, which join up to max_sentences sentences."""
    import random

    import open_clip

    cfg = preset(scenes)
    tokenizer = open_clip.get_tokenizer(method.encoders.name, context_length=MAX_CONTEXT)
    rng = random.Random(seed)
    out = []
    for name, spec in method.views.items():
        if not isinstance(spec, TextView) or spec.mode != "textcrop":  # whole captions: what the rule sizes
            continue
        texts = [build_texts(sample_record(cfg, "train", i)[1], spec, rng) for i in range(records)]
        for kind, part in (("global", [t[:spec.n_global] for t in texts]),
                           ("local", [t[spec.n_global:] for t in texts])):
            flat = [x for t in part for x in t]
            if not flat:
                continue
            lengths = (tokenizer(flat) != 0).sum(dim=1).tolist()
            cut = [n - context for n in lengths if n > context]
            out.append(TextCut(name, kind, len(flat), len(cut), max(lengths), sum(cut) / len(cut) if cut else 0.0))
    return out


def scale_overrides(scale: str, method: str) -> dict:
    """Dotted-key overrides of `scale` for `method`: the shared profile, then the method's own sizes
    (`Method.SCALE_FIELDS`)."""

    own = METHODS[method].SCALE_FIELDS.get(scale, {}) if method in METHODS else {}
    return dict(_PROFILES[scale]) | {f"{method}.{k}": v for k, v in own.items()}


# The tiny scale's benchmark versions (config key `benchmark`): the generated data and the scale-down rules that go
# with it (docs/benchmark.md). v4 is the committed history (its runs keep their fingerprints: `benchmark` acts only
# through what it sets). v5 follows the scale-down rules of the diagnosis manifest: the text
# context by the context rule (context_rule(caption_token_lengths("tiny-v5")) = 48: longest test caption 41
# tokens; tested), and for the multi-crop methods the scaled views, the official EMA horizon and the local crop
# size rule (32 px at 64 px / patch 16, the tiny profile's value already). The tiny encoder rule's patch-16 towers
# stay: v5 changes the benchmark and these rules only. "*.<field>" applies to any method that has the field.
# The tiny scale's default is v5 (switched once its tiny tables had run); records written before the
# key existed were made on v4 (LEGACY_BENCHMARK). Other scales have no benchmark version (the key is "").
TINY_BENCHMARK = "v5"
LEGACY_BENCHMARK = "v4"
BENCHMARKS: dict[str, dict] = {
    "v4": {},
    "v5": {"data.scenes": "tiny-v5", "context_length": 48, "*.views": "scaled", "*.ema_horizon": "official",
           "*.local_size": 0},
}
# A benchmark rule gives way to what a run sets itself: an explicit teacher momentum runs as given (the horizon rule
# would silently replace it), and given weights keep the text context they were trained with.
YIELDS_TO: dict[str, tuple[str, ...]] = {"*.ema_horizon": ("*.ema_momentum",), "context_length": ("checkpoint", "init")}


def benchmark_overrides(name: str, method: str, given: dict | None = None) -> dict:
    """Dotted-key overrides of benchmark `name` for `method` ("*.<field>" kept where the method has the field;
    ema_horizon "official": the official run's EMA horizon, methods.modules.OFFICIAL_EMA_HORIZON), less the rules
    that yield (YIELDS_TO) to a key set in `given` (a run's own overrides)."""

    fields = {f.name for f in dataclasses.fields(METHODS[method].Config)} if method in METHODS else set()
    given = given or {}
    own = lambda key: key.replace("*.", f"{method}.", 1)  # noqa: E731
    out = {}
    for rule, value in BENCHMARKS[name].items():
        if rule.startswith("*.") and rule[2:] not in fields:
            continue
        if any(given.get(own(k)) not in (None, "") for k in YIELDS_TO.get(rule, ())):
            continue
        key = own(rule)
        out[key] = OFFICIAL_EMA_HORIZON if value == "official" and key.endswith(".ema_horizon") else value
    return out


# Each method's TINY_SECONDS_PER_STEP_B32 (methods/<name>.py): measured seconds per training step at batch 32 on
# the reference 2-core CPU (tiny profile, ViT-Tiny-16-64, data included) by `benchmarks/tiny_step.py --per-step
# --candidates patch16-64 --methods clip slip silc cosmos`, the mean of its runs with data.augment=workers and
# =device (nothing else running; the two differed by up to 25% either way, which is this measurement's noise).
# The dry run's cost estimate at tiny scale.
# set-up + the final evaluation per run (evaluation 17-19 s: benchmarks/README.md, "tiny_step")
TINY_RUN_OVERHEAD_S = 25.0
TINY_EVAL_S = 18.0  # each evaluation during training (train.eval_every)
TINY_TABLE_LIMIT_S = 15 * 60  # the tiny profile's rule: table3 with 3 seeds within 15 minutes by this estimate
# The rows the rule was registered on (table3's rows then). DreamLIP, added later, makes table3 18.1 min by the
# estimate; the profile stays (changing it would rename every logged run), so the rule reads these rows only.
TINY_RULE_ROWS = ("CLIP", "SLIP", "SiLC", "COSMOS")


def estimate_seconds(run) -> float | None:
    """Wall seconds of a run (a RunConfig) on the reference 2-core CPU at tiny scale (None for what the table does
    not cover)."""

    per_step = METHODS[run.method].TINY_SECONDS_PER_STEP_B32
    if run.checkpoint or run.scale != "tiny" or per_step is None:
        return None
    steps, batch, every = run.train.steps, run.train.batch_size, run.train.eval_every
    evals = (steps - 1) // every if every else 0
    return per_step * steps * batch / 32 + TINY_RUN_OVERHEAD_S + TINY_EVAL_S * evals


ABSURD_S = 24 * 3600  # a tiny-scale run estimated longer than a day on the reference CPU is almost surely a typo


def absurd_estimate(run) -> str | None:
    """A one-line warning when a tiny-scale run's estimate (steps x measured step time) exceeds ABSURD_S; else
    None. The run is not refused: a long CPU run may be meant."""
    sec = estimate_seconds(run)
    if sec is None or sec <= ABSURD_S:
        return None
    return (f"warning: this run is estimated at {sec / 86400:.1f} days on the reference 2-core CPU "
            f"(train.steps={run.train.steps:,} x batch {run.train.batch_size}); check train.steps")


def estimate(run) -> str:
    """A one-line cost estimate of a run: wall minutes on the reference CPU at tiny scale, else samples seen."""
    if run.checkpoint:
        return f"eval-only ({len(run.eval.sets)} evaluations of {run.checkpoint})"
    sec = estimate_seconds(run)
    if sec is not None:
        return f"~{sec / 60:.1f} min on a 2-core CPU"
    steps, batch = run.train.steps, run.train.batch_size
    return f"{steps * batch:,} samples ({steps:,} steps x global batch {batch})"
