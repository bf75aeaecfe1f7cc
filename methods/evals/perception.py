"""Visual perception (MMVP-VLM; the benchmark's MMVP-style pairs): the evaluator.

Two images a, b with statements a, b; a pair counts only when both are matched: by MMVP's official rule (each
statement picks its image; eval.mmvp_protocol=official, real MMVP-VLM's default) or the suite's (each image picks
its statement; the benchmark's MMVP-style sets). methods/evals/probes.py. Metrics: accuracy per pattern and their
mean."""

from __future__ import annotations

import numpy as np

from . import probes, scenesets
from .embed import embed_images, embed_texts
from .evaluator import Evaluator, per_group_resample


def run(method, data: probes.ImagePairs, cfg, items: dict) -> dict[str, float]:
    (img_a, ok_a), (img_b, ok_b) = embed_images(method, data.images_a, cfg), embed_images(method, data.images_b, cfg)
    ok = ok_a & ok_b  # a pair with a corrupt image leaves whole
    keep = probes.require_images(ok, "MMVP pairs")
    cap_a = embed_texts(method, [data.captions_a[i] for i in keep], cfg.batch_size)
    cap_b = embed_texts(method, [data.captions_b[i] for i in keep], cfg.batch_size)
    rule = probes.statement_choice_correct if data.protocol == "official" else probes.pair_correct
    correct = rule(img_a[ok], img_b[ok], cap_a, cap_b)
    patterns = [data.patterns[i] for i in keep]
    dropped = probes.dropped_groups(data.patterns, patterns, "MMVP-VLM pattern")
    items |= {"correct": correct.numpy(), "group": np.array(patterns)}
    return probes.per_group(correct, patterns) | {"skipped_images": float((~ok_a).sum() + (~ok_b).sum())} | (
        {"dropped_groups": float(dropped)} if dropped else {})


EVALUATOR = Evaluator("perception", {"scenes": scenesets.perception,
                                     "mmvp": lambda cfg, scenes: probes.mmvp_vlm(cfg.path("mmvp_dir"),
                                                                                 cfg.mmvp_protocol)},
                      run, lambda metric: "correct", per_group_resample, paths={"mmvp": ("mmvp_dir",)})
