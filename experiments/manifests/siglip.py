"""The sigmoid loss (SigLIP) against softmax InfoNCE as the image-text term of every method (no paper table).

SigLIP (Zhai et al., ICCV 2023) scores each image-text pair of the batch on its own, with a learnable bias, and
reports it ahead of softmax InfoNCE at small batch sizes; no public code trains SLIP, SiLC or COSMOS with it. Here
each method of table3 trains with `<method>.contrastive=softmax` and `=sigmoid` (methods/contrastive.py: only the
image-text term switches), at the tiny profile (100 steps) and at the budget study's length (1,000 steps,
evaluated every 100). The softmax rows are table3's and the budget study's cells (shared by fingerprint). SigLIP's
own numbers are on WebLI with larger models and batches: none is comparable, so the table has no paper column.

Command: python experiments/run.py siglip --archive [--jobs 2] [--rows ...]   (--archive restores the budget study's
softmax records first and archives each new cell)
Compute: tiny = 16 rows x 3 seeds; 24 new cells (the sigmoid rows at both lengths): 148 min one at a time by the
dry run's estimate (`run.py siglip --dry-run`; the 12 cells at 1,000 steps 133 min, the 12 at 100 steps 15, at
softmax's measured step costs); small = 16 single-GPU runs.
Expected: nothing known in advance at these sizes; the report says which way each method goes.
"""

_STEPS = {"train.steps": 1000, "train.eval_every": 100}  # the budget study's length (its rows, so its cells)
_METHODS = {"CLIP": "clip", "SLIP": "slip", "SiLC": "silc", "COSMOS": "cosmos"}

TITLE = "The sigmoid loss (SigLIP) against softmax InfoNCE in every method"
ROWS = {}
for _label, _method in _METHODS.items():
    ROWS[_label] = {"method": _method}
    ROWS[f"{_label}, sigmoid"] = {"method": _method, f"{_method}.contrastive": "sigmoid"}
for _label, _method in _METHODS.items():
    ROWS[f"{_label}, 1,000 steps"] = {"method": _method} | _STEPS
    ROWS[f"{_label}, sigmoid, 1,000 steps"] = {"method": _method, f"{_method}.contrastive": "sigmoid"} | _STEPS
COLUMNS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
           "classification/scenes/top1": "Top-1", "compositional/scenes/mean": "SugarCrepe-style avg",
           "perception/scenes/mean": "MMVP-style"}
SEEDS = (0,)
SCALES = ("tiny", "small")
PAPER: dict = {}  # SigLIP's numbers are on WebLI with other models and batches (see above)
# SigLIP's claim, for each method and length: the sigmoid loss beats softmax at a small batch (here 32).
CLAIMS = [(f"{label}: sigmoid beats softmax on I2T R@1{length}", f"{label}, sigmoid{length}", f"{label}{length}",
           "retrieval/scenes/i2t_r1") for length in ("", ", 1,000 steps") for label in _METHODS]
# Primary (analysis/statistics.py; registered here before any sigmoid run): SigLIP's headline setting, CLIP, at the
# longer budget, where the tiny runs' near-chance retrieval leaves room for a gap.
PRIMARY = ("CLIP: sigmoid beats softmax on I2T R@1, 1,000 steps",)
