"""CLIP on the bundled synthetic benchmark: the smallest end-to-end path (train, evaluate, tabulate).

Not a paper table: it exercises the whole pipeline until the paper manifests land, and is the quickest check that
a fresh install works. Retrieval is image <-> long caption on the benchmark's test split (1,000 images, 3 long
captions each); classification is the dominant object's category (16 classes, 6 templates).

Command: python experiments/run.py clip_tiny
Budget: tiny = one 600-step run on this 2-core CPU (a few minutes); small = one GPU-hour scale run.
"""

TITLE = "CLIP on the synthetic scenes benchmark"
ROWS = {"CLIP": {"method": "clip"}}
COLUMNS = {
    "retrieval/scenes/i2t_r1": "I2T R@1",
    "retrieval/scenes/t2i_r1": "T2I R@1",
    "retrieval/scenes/i2t_r5": "I2T R@5",
    "retrieval/scenes/t2i_r5": "T2I R@5",
    "classification/scenes/top1": "Top-1",
    "classification/scenes/top5": "Top-5",
}
SEEDS = (0,)
SCALES = ("tiny", "small")
PAPER: dict = {}  # no paper counterpart
