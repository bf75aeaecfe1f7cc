"""What every method comparison evaluates on the synthetic benchmark: one set of evaluations, so runs are shared
between tables. Plain data, torch-free: the manifests read it (experiments/scales.py's profiles too)."""

COMPARISON_EVALS = ("retrieval/scenes", "classification/scenes", "compositional/scenes", "perception/scenes",
                    "segmentation/scenes")
