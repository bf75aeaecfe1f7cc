"""Which evaluations a run performs (EvalConfig) and where their real data lies (`paths`: local paths only)."""

from __future__ import annotations

import dataclasses

from . import datasets, probes, segsets


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    sets: tuple[str, ...] = ("retrieval/scenes", "classification/scenes")
    batch_size: int = 256
    workers: int = 0
    # where each real dataset lies: eval.paths.<key>=<path>; the keys are the evaluators' (EVALUATORS[t].paths),
    # e.g. coco_images, coco_captions, imagenet_dir, voc_dir, and seg_names_dir (a folder of cls_<set>.txt files
    # replacing the segmentation names file by file). Locations, not content: out of the fingerprint as a whole.
    paths: dict = dataclasses.field(default_factory=dict)
    seg_names: str = "sclip"  # segmentation class lines: SCLIP's shipped name files (synonyms) or "dataset" names
    linear_train_size: int = 5000  # linear probe on the benchmark: first N train samples
    maps: int = 8  # attention / similarity maps of the first N benchmark test images saved with the run (0: none)
    mean_per_class: bool = False
    imagenet_templates: str = "openai80"  # zero-shot ImageNet prompts: CLIP's 80 (COSMOS) or SLIP's 7 ("slip7")
    # the protocols of real MMVP-VLM and SVO-Probes (methods/evals/probes.py): the owners' scripts by default, the
    # suite's earlier rules by name ("pairs", "ranking"); the benchmark's own sets keep the suite's rules
    mmvp_protocol: str = "official"
    svo_protocol: str = "official"
    # the tasks evaluated again with a method's other weights (Method.other_weights: an EMA teacher's student, or
    # the teacher of a student-evaluated run), logged as "<weights>/<metric>"; () = none. What a run logs, not what
    # it computes: out of the fingerprint.
    other_weights: tuple[str, ...] = ("retrieval", "classification")

    def __post_init__(self):
        if self.seg_names not in segsets.SEG_NAMES:
            raise ValueError(f"unknown seg_names {self.seg_names!r}; valid choices: {', '.join(segsets.SEG_NAMES)}")
        if self.imagenet_templates not in datasets.IMAGENET_TEMPLATES:
            raise ValueError(f"unknown imagenet_templates {self.imagenet_templates!r}; valid choices: "
                             f"{', '.join(datasets.IMAGENET_TEMPLATES)}")
        for name, choices in (("mmvp_protocol", probes.MMVP_PROTOCOLS), ("svo_protocol", probes.SVO_PROTOCOLS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid choices: {', '.join(choices)}")
        for name, least in (("batch_size", 1), ("workers", 0), ("linear_train_size", 1), ("maps", 0)):
            if getattr(self, name) < least:
                raise ValueError(f"{name}={getattr(self, name)} must be >= {least}")

    def path(self, key: str) -> str:
        """The configured location `key` ("" when not given)."""
        return str(self.paths.get(key, "") or "")
