"""COSMOS paper Table 17 (appendix): text-cropping variants on CC3M.

COSMOS with its global text views drawn as the raw caption, one random caption, one short or one long caption,
or sentence text crops (the default); and sentence crops with DeCLIP-style masked-word local views (15% of words
dropped) instead of single-sentence local views. The paper reports masked-word 46.0/32.8 vs sentence cropping
52.6/38.9 COCO R@1; the other rows are not recovered.

Command: python experiments/run.py table17 [--scale tiny|small|paper]
Budget: tiny = 6 COSMOS runs (~25 min on 2 cores; the text-crop row is shared with table3).
"""

TITLE = "Text-cropping variants (COSMOS Table 17)"
ROWS = {f"caption = {m}": {"method": "cosmos", "cosmos.caption": m} for m in ("raw", "random", "short", "long")}
ROWS |= {"masked-word local views": {"method": "cosmos", "cosmos.local_text": "masked"},
         "text crops (COSMOS)": {"method": "cosmos"}}
COLUMNS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
           "compositional/scenes/mean": "SugarCrepe-style avg"}
COLUMNS_BY_SCALE = {"paper": {"retrieval/coco/i2t_r1": "COCO I2T", "retrieval/coco/t2i_r1": "COCO T2I"}}
SEEDS = (0,)
SCALES = ("tiny", "small", "paper")
PAPER = {"masked-word local views": {"COCO I2T": (46.0, "T"), "COCO T2I": (32.8, "T")},
         "text crops (COSMOS)": {"COCO I2T": (52.6, "T"), "COCO T2I": (38.9, "T")}}
CLAIMS = [("Sentence crops beat masked-word local views (I2T R@1)", "text crops (COSMOS)",
           "masked-word local views", "retrieval/scenes/i2t_r1")]
