"""CLIP alone on the bundled synthetic benchmark, trained 10x longer than table3's budget, with learning curves.

Not a paper table: the smallest end-to-end path (train, evaluate during training, tabulate, plot), and the
record of what the tiny CLIP learns with time. Retrieval is image <-> long caption on the benchmark's test split
(1,000 images, 3 long captions each); classification is the dominant object's category (16 classes, 6
templates); `class_cos` is the mean cosine between the class prompts' text embeddings (1 = the text tower does
not tell the class names apart). At tiny scale its row is the budget study's CLIP row (1,000 steps evaluated
every 100): the same config, so the same runs, trained once for both; the report draws those evaluations
against the step.

Command: python experiments/run.py clip_tiny
Budget: tiny = 3 seeds x one 1,000-step CLIP run with 10 evaluations (14.1 min with --jobs 2 on this 2-core CPU;
nothing when the budget study has run); small = one 20k-step run on one GPU.
"""

from .budget import ROWS as _BUDGET

TITLE = "CLIP on the synthetic scenes benchmark"
ROWS = {"CLIP, 1000 steps": _BUDGET["CLIP"]}
ROWS_BY_SCALE = {"small": {"CLIP": {"method": "clip", "train.eval_every": 2000}}}
COLUMNS = {
    "retrieval/scenes/i2t_r1": "I2T R@1",
    "retrieval/scenes/t2i_r1": "T2I R@1",
    "retrieval/scenes/i2t_r5": "I2T R@5",
    "retrieval/scenes/t2i_r5": "T2I R@5",
    "classification/scenes/top1": "Top-1",
    "classification/scenes/top5": "Top-5",
    "classification/scenes/class_cos": "class cos",
}
CURVES = ("retrieval/scenes/i2t_r1", "classification/scenes/top1", "classification/scenes/class_cos")
SEEDS = (0,)
SCALES = ("tiny", "small")
PAPER: dict = {}  # no paper counterpart
