"""COSMOS paper Table 4 (likely): training-free zero-shot semantic segmentation (SCLIP protocol).

COSMOS's dense features segment better than CLIP's and OpenCLIP's trained on far more data (paper: VOC20,
Cityscapes, Context59, ADE20K, COCO-Stuff, and the with-background VOC21, Context60, COCO-Object). At tiny/small
scale: the synthetic benchmark's exact class maps (16 categories + background by probability threshold 0.1,
logit scale 40, one 64-px window). Real-benchmark readers and SCLIP's correlative self-attention are not built
yet, so the paper scale is not offered.

Command: python experiments/run.py table4 [--scale tiny|small]
Budget: tiny = table3's 4 runs (shared cells; segmentation is part of every tiny evaluation).
"""

TITLE = "Zero-shot semantic segmentation (COSMOS Table 4)"
ROWS = {"CLIP": {"method": "clip"}, "SLIP": {"method": "slip"}, "SiLC": {"method": "silc"},
        "COSMOS": {"method": "cosmos"}}
COLUMNS = {"segmentation/scenes/miou": "mIoU", "segmentation/scenes/pixel_acc": "Pixel acc."}
SEEDS = (0,)
SCALES = ("tiny", "small")
# COSMOS (Merged-30M) vs OpenCLIP-1B without CSA, mIoU (paper_numbers.md, Table 2 identified, [A]).
PAPER = {"COSMOS": {"VOC20": (53.6, "A"), "Cityscapes": (13.9, "A"), "Context59": (15.7, "A"), "ADE20K": (8.5, "A"),
                    "COCO-Stuff": (10.7, "A")},
         "OpenCLIP 1B (not trained here)": {"VOC20": (51.3, "A"), "Cityscapes": (8.5, "A"), "Context59": (12.6, "A"),
                                            "ADE20K": (4.2, "A"), "COCO-Stuff": (9.2, "A")}}
CLAIMS = [("COSMOS segments better than CLIP (mIoU)", "COSMOS", "CLIP", "segmentation/scenes/miou")]
