"""COSMOS paper Table 1: zero-shot retrieval and classification of CLIP-style methods per pre-training set.

The paper trains ViT-B/16 on CC3M-recap, CC12M-recap, YFCC15M-recap, Merged-30M and PixelProse and reports COCO
and Flickr30k R@1 (both directions) and ImageNet top-1; COSMOS leads on every set. Here the suite's five methods
share one recipe; CLIP draws one caption per image among all of a sample's captions (`clip.caption=random`):
the paper's Table 1 CLIP trains on the recaptioned set (COCO I2T 40.2), unlike Table 5's raw-caption CLIP row
(15.0; see table5.py). At tiny/small scale: the synthetic benchmark (image <-> long-caption retrieval, dominant-object
classification); its runs are the same cells as table3's (same fingerprints), so they train once. At paper scale:
point data.shards at one pre-training set (e.g. `--set data.shards=/data/cc3m-recap`) and eval.* at COCO,
Flickr30k and ImageNet; the paper column shows the CC3M-recap numbers.

Command: python experiments/run.py table1 [--scale tiny|small|paper] [--set data.shards=...]
Budget: tiny = table3's 5 rows x 3 seeds (shared); paper = 4 x (32 epochs of CC3M-recap on 16 A100).
"""

from ._shared import V5_BINDING as _V5_BINDING
from ._shared import V5_TOP1 as _V5_TOP1

TITLE = "Zero-shot retrieval and classification (COSMOS Table 1)"
ROWS = {"CLIP": {"method": "clip"}, "SLIP": {"method": "slip"}, "SiLC": {"method": "silc"},
        "COSMOS": {"method": "cosmos"}, "DreamLIP": {"method": "dreamlip"}}
COLUMNS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
           "retrieval/scenes/i2t_r5": "I2T R@5", "retrieval/scenes/t2i_r5": "T2I R@5",
           "classification/scenes/top1": "Top-1"}
COLUMNS_BY_SCALE = {"paper": {"retrieval/coco/i2t_r1": "COCO I2T", "retrieval/coco/t2i_r1": "COCO T2I",
                              "retrieval/flickr30k/i2t_r1": "Flickr I2T", "retrieval/flickr30k/t2i_r1": "Flickr T2I",
                              "classification/imagenet/top1": "IN top-1"}}
SEEDS = (0,)
SCALES = ("tiny", "small", "paper")
# CC3M-recap, ViT-B/16 (../shared/reference/paper_numbers.md, Table 1).
PAPER = {"COSMOS": {"COCO I2T": (53.1, "A"), "COCO T2I": (40.1, "A"), "Flickr I2T": (84.1, "A"),
                    "Flickr T2I": (68.6, "A"), "IN top-1": (37.1, "A")},
         "CLIP": {"COCO I2T": (40.2, "T"), "COCO T2I": (27.2, "T")},
         # the paper compares DreamLIP on Merged-30M only: those rows beside COSMOS's own Merged-30M numbers
         "DreamLIP (Merged-30M, paper only)": {"COCO I2T": (62.3, "U"), "COCO T2I": (44.9, "U"),
                                               "Flickr I2T": (89.9, "U"), "Flickr T2I": (73.3, "U"),
                                               "IN top-1": (58.4, "U")},
         "COSMOS (Merged-30M, paper only)": {"COCO I2T": (68.0, "A"), "COCO T2I": (52.5, "A"),
                                             "Flickr I2T": (92.9, "A"), "Flickr T2I": (80.3, "A"),
                                             "IN top-1": (57.6, "A")}}
CLAIMS = [(f"COSMOS beats CLIP on {h}", "COSMOS", "CLIP", k) for k, h in COLUMNS.items()] + [
    # the paper's Merged-30M comparison (COCO I2T 68.0 vs 62.3), registered before any DreamLIP run
    ("COSMOS beats DreamLIP on I2T R@1", "COSMOS", "DreamLIP", "retrieval/scenes/i2t_r1")]
# Primary claims (analysis/statistics.py; the others are judged with Holm): the paper's headline claim for this
# artefact, chosen after the committed tiny runs and before any rerun on a new profile (this file's history).
PRIMARY = ("COSMOS beats CLIP on I2T R@1",)
CAVEATS = {"v5": (_V5_BINDING, _V5_TOP1)}
