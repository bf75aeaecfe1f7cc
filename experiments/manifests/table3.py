"""COSMOS paper Table 3 (identified): visual perception and contextual understanding.

The paper compares COSMOS (Merged-30M) with DreamLIP and OpenCLIP on MMVP-VLM (9 visual patterns; a pair counts
only if both images pick their own statement), SugarCrepe (7 hard-negative types) and SVO probes, and finds
COSMOS ahead on compositional understanding. Here the five methods of the suite are trained under one recipe and
scored by the same evaluators. At tiny/small scale the synthetic benchmark's probes stand in: its 7
SugarCrepe-style hard-negative sets, its 6 MMVP-style patterns, and its relation hard negatives
(replace-relation) for SVO. At paper scale the real benchmarks are read from local paths
(eval.paths.sugarcrepe_dir, eval.paths.mmvp_dir, eval.paths.coco_images).

Command: python experiments/run.py table3 [--scale tiny|small|paper] [--seeds 0,1,2]
Budget: tiny = 5 rows x 3 seeds of the tiny profile on this 2-core CPU (13.7 min from nothing for the first 4
rows, data included; DreamLIP's 3 runs took 2.9 min of wall time on a faster Xeon with other work running; 18.1 min
in all by the dry run's estimate); small = 5 single-GPU runs; paper = 5 runs of the COSMOS recipe (CC3M-recap:
16 A100 x ~1 day each).
"""

from ._shared import V5_MMVP as _V5_MMVP
from ._shared import V5_SILC_HEAD as _V5_SILC_HEAD
from ._shared import V5_TEACHER as _V5_TEACHER

TITLE = "Visual perception and compositional understanding (COSMOS Table 3)"
ROWS = {"CLIP": {"method": "clip"}, "SLIP": {"method": "slip"}, "SiLC": {"method": "silc"},
        "COSMOS": {"method": "cosmos"}, "DreamLIP": {"method": "dreamlip"}}
_TYPES = {"replace-object": "Rep-obj", "replace-attribute": "Rep-att", "replace-relation": "Relations (Rep-rel)",
          "swap-object": "Swap-obj", "swap-attribute": "Swap-att", "add-object": "Add-obj",
          "add-attribute": "Add-att"}
COLUMNS = {"perception/scenes/mean": "MMVP-style"} | {
    f"compositional/scenes/{k}": v for k, v in _TYPES.items()} | {
    "compositional/scenes/mean": "SugarCrepe-style avg"}
# "Relations (Rep-rel)" is the column that stands in for SVO at tiny scale.
_SUGARCREPE = {"add_att": "Add-att", "add_obj": "Add-obj", "replace_att": "Rep-att", "replace_obj": "Rep-obj",
               "replace_rel": "Rep-rel", "swap_att": "Swap-att", "swap_obj": "Swap-obj"}
COLUMNS_BY_SCALE = {"paper": {"perception/mmvp/mean": "MMVP-VLM"} | {
    f"compositional/sugarcrepe/{k}": v for k, v in _SUGARCREPE.items()} | {
    "compositional/sugarcrepe/mean": "SugarCrepe avg"}}
SEEDS = (0,)
SCALES = ("tiny", "small", "paper")
SETTINGS = {"paper": {"eval.sets": ("perception/mmvp", "compositional/sugarcrepe")}}  # tiny/small: the profile
# Paper numbers (../shared/reference/paper_numbers.md, Table 3, all [U]: unverified summaries; per-type unknown).
PAPER = {"COSMOS": {"SugarCrepe avg": (86.6, "U"), "SVO": (68.5, "U"), "MMVP-VLM": (25.9, "U")},
         "DreamLIP": {"SugarCrepe avg": (81.8, "U"), "SVO": (66.5, "U")}}
CLAIMS = [
    ("COSMOS beats CLIP on compositional understanding (SugarCrepe avg)", "COSMOS", "CLIP",
     "compositional/scenes/mean"),
    ("COSMOS beats CLIP on visual perception (MMVP)", "COSMOS", "CLIP", "perception/scenes/mean"),
    ("COSMOS beats SLIP on compositional understanding", "COSMOS", "SLIP", "compositional/scenes/mean"),
    ("COSMOS beats SiLC on compositional understanding", "COSMOS", "SiLC", "compositional/scenes/mean"),
    # the paper's comparison (SugarCrepe 86.6 vs 81.8), registered before any DreamLIP run
    ("COSMOS beats DreamLIP on compositional understanding", "COSMOS", "DreamLIP", "compositional/scenes/mean"),
]
CAVEATS = {"v4": (  # measured on benchmark v4
    "In the budget study's 1,000-step runs every method solves the colour pairs (98-100%) and almost none of the "
    "count, orientation and position pairs: the MMVP-style mean measures colour and presence (docs/findings.md).",
    "At the tiny budget SiLC and COSMOS evaluate an EMA teacher that still holds about a third of its random "
    "initialisation (momentum 0.99 over 100 steps).",
), "v5": (_V5_MMVP, _V5_SILC_HEAD, _V5_TEACHER)}
# Primary claims (analysis/statistics.py; the others are judged with Holm): the paper's headline claim for this
# artefact, chosen after the committed tiny runs and before any rerun on a new profile (this file's history).
PRIMARY = ("COSMOS beats CLIP on compositional understanding (SugarCrepe avg)",)
