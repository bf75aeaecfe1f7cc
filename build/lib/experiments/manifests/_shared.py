"""What several manifests share: the columns of the COSMOS ablation tables, and Table 5's caption rule."""

# The caption mode of Table 5's rows before "+ text cropping" (the raw alt-text; table5.py says why).
BEFORE_TEXT_CROPPING = "raw"
# COSMOS's ablation tables (Table 5, the appendix sweeps): retrieval, zero-shot and compositional columns.
ABLATION_COLUMNS = {"retrieval/scenes/i2t_r1": "I2T R@1", "retrieval/scenes/t2i_r1": "T2I R@1",
                    "classification/scenes/top1": "Top-1", "compositional/scenes/mean": "SugarCrepe-style avg"}
ABLATION_COLUMNS_BY_SCALE = {"paper": {"retrieval/coco/i2t_r1": "COCO I2T", "retrieval/coco/t2i_r1": "COCO T2I",
                                       "classification/imagenet/top1": "IN top-1"}}
