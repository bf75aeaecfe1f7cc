"""COSMOS ablation sweeps the paper studies (appendix tables, numbers not recovered): number of local crops,
distillation loss weight, EMA momentum and fixed vs cosine schedule, student vs teacher weights at evaluation,
cross-attention on/off. Each sweep varies one switch of the default COSMOS config.

Command: python experiments/run.py ablations [--rows "local crops = 0,local crops = 2"] [--scale ...]
Budget: tiny = 12 rows + the default x 3 seeds (36 COSMOS runs, 42.9 min with --jobs 2 on this 2-core CPU; the
default row is table3's COSMOS); use --rows to run one sweep.
"""

from ._shared import ABLATION_COLUMNS as _ABLATION_COLUMNS
from ._shared import ABLATION_COLUMNS_BY_SCALE as _ABLATION_COLUMNS_BY_SCALE
from ._shared import V5_TEACHER as _V5_TEACHER

TITLE = "COSMOS ablation sweeps"
ROWS = {f"local crops = {n}": {"method": "cosmos", "cosmos.local_crops": n} for n in (0, 2, 4, 8)}
ROWS |= {f"distill weight = {w}": {"method": "cosmos", "cosmos.distill_weight": w} for w in (0.0, 0.5, 2.0)}
# The momentum rows run at their momentum as given on every benchmark: v5's horizon rule yields to an explicit
# momentum (experiments/scales.py YIELDS_TO; before it did, both rows ran identical to the default on v5).
ROWS |= {f"EMA momentum = {m}": {"method": "cosmos", "cosmos.ema_momentum": m} for m in (0.9, 0.999)}
ROWS |= {"EMA schedule = cosine": {"method": "cosmos", "cosmos.ema_schedule": "cosine"},
         "evaluate the student": {"method": "cosmos", "cosmos.eval_weights": "student"},
         "no cross-attention": {"method": "cosmos", "cosmos.cross_attention": False},
         "COSMOS (default)": {"method": "cosmos"}}
COLUMNS = _ABLATION_COLUMNS
COLUMNS_BY_SCALE = _ABLATION_COLUMNS_BY_SCALE
SEEDS = (0,)
SCALES = ("tiny", "small", "paper")
PAPER: dict = {}  # the appendix numbers were not recovered (../shared/reference/paper_numbers.md)
CLAIMS = [("Cross-attention helps (I2T R@1)", "COSMOS (default)", "no cross-attention", "retrieval/scenes/i2t_r1"),
          ("Distillation helps (I2T R@1)", "COSMOS (default)", "distill weight = 0.0", "retrieval/scenes/i2t_r1")]
CAVEATS = {"v5": (_V5_TEACHER,)}
