"""A run's identity: the hash of its resolved config minus what does not change what it computes.

Equal fingerprints = the same experiment: a manifest reuses a completed run with the cell's fingerprint, a rerun
of the same config resumes its checkpoint (runs/checkpoints/<fingerprint>/), and archived records are checked
against it. Changing what enters it changes every logged run's identity, so it grows only by ADDED_KEYS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from methods import METHODS
from methods.data.scenes import preset
from methods.data.stream import MAX_PIXELS
from methods.encoders import CONFIG_FILE, LOCAL_DIR, local_dir
from methods.evals import PATH_KEYS
from methods.interop import weights_file

# Keys that change how a run executes but not what it computes, and the locations of evaluation data (eval.paths:
# where a dataset lies, not what it is): excluded from the fingerprint. Records written before eval.paths existed
# hold each location as its own eval key (eval.coco_images, ...): those are excluded too, and still accepted on
# the command line as eval.paths.<key>.
# data.split: with one rank both splits read the same stream; with more, "samples" reproduces it exactly and
# "shards" draws other (equally distributed) batches of the same global size.
# data.workers is the number of reader streams per rank (each reads its own shards, methods/data/stream.py), so it
# changes which samples meet in a batch (measured: SLIP's table3 row at 2 workers differs from 0 or 1 in every
# column): it enters the fingerprint from 2 on; 0 and 1 read one stream, the same one, and stay out (every logged
# tiny run had 0, so none was renamed). The number of ranks is not in the config: a run reproduces at its own.
NON_SEMANTIC = {("data", "split"), ("train", "ckpt_every"), ("train", "log_every"), ("train", "profile"),
                ("train", "wandb"),
                ("train", "compile"), ("train", "tensorboard"),
                ("eval", "batch_size"), ("eval", "workers"), ("eval", "maps"), ("eval", "paths"),
                ("eval", "other_weights")} | \
    {("eval", k) for k in PATH_KEYS}
# Keys added after runs were logged, with the default that reproduces the old behaviour exactly: at that value
# they stay out of the fingerprint, so logged runs keep their identity (and are reused) when the schema grows.
# A method's own are its ADDED_DEFAULTS.
# A top-level key is (key, None).
ADDED_KEYS = {("context_length", None): 0, ("text_act", None): "gelu", ("image_norm", None): "openai",
              ("data", "augment"): "workers", ("data", "max_pixels"): MAX_PIXELS, ("data", "view_ops"): "pil",
              ("data", "jpeg_draft"): False,
              ("train", "warmup_start"): 0.0, ("train", "tf32"): False, ("train", "lock_image"): False,
              ("train", "lock_text"): False, ("train", "accum_freq"): 1, ("train", "grad_checkpointing"): False,
              ("eval", "imagenet_templates"): "openai80", ("eval", "seg_names"): "dataset",
              # no logged run scored real MMVP-VLM or SVO-Probes (none was available offline), so the owners'
              # protocols, the new defaults, reproduce every record; the benchmark's own sets do not read them
              ("eval", "mmvp_protocol"): "official", ("eval", "svo_protocol"): "official"} | \
    {(name, field): old for name, cls in METHODS.items() for field, old in cls.ADDED_DEFAULTS.items()}

# Values that build the same tensors as another value of their key (tested bit for bit in tests/test_fast_views.py
# and tests/test_on_device.py): the same experiment.
SAME_AS = {("data", "view_ops"): {"exact": "pil"}, ("data", "augment"): {"device": "workers"}}


def fingerprint(cfg) -> str:
    """Hash of the resolved config minus non-semantic keys: equal fingerprints = the same experiment. `cfg` is a
    RunConfig or a recorded config.json: the hash reads the recorded (dict) form, which records of every schema
    version have, and looks only at its semantic part."""
    record = cfg if isinstance(cfg, Mapping) else cfg.to_dict()

    def kept(k, f, v):
        if (k, f) in SAME_AS:
            v = SAME_AS[(k, f)].get(v, v)
        return (k, f) not in NON_SEMANTIC and ADDED_KEYS.get((k, f), object()) != v

    sem = {k: ({f: v for f, v in val.items() if kept(k, f, v)} if isinstance(val, dict) else val)
           for k, val in record.items() if isinstance(val, dict) or kept(k, None, val)}
    if isinstance(sem.get("data"), dict) and sem["data"].get("workers", 0) <= 1:  # one reader stream either way
        sem["data"].pop("workers", None)
    if sem.get("checkpoint"):  # an eval-only run: what is evaluated is the file's content, wherever it lies
        evaluated = {"checkpoint_sha256": file_sha256(weights_file(sem["checkpoint"])),
                     "checkpoint_weights": sem["checkpoint_weights"], "encoder": encoder_identity(sem["encoder"]),
                     "method": sem["method"], "eval": sem["eval"]}
        evaluated |= {k: sem[k] for k in ("context_length", "text_act", "image_norm") if k in sem and sem[k]}
        return hashlib.sha256(json.dumps(evaluated, sort_keys=True, default=list).encode()).hexdigest()[:16]
    sem["encoder"] = encoder_identity(sem["encoder"])
    for key in ("checkpoint", "checkpoint_weights", "recipe", "recipe_samples",
                "benchmark"):  # recipe and benchmark act only through the values they set (scales.BENCHMARKS)
        sem.pop(key, None)
    if sem.get("init"):  # the starting weights are the file's content, wherever it lies
        sem["init"] = file_sha256(weights_file(sem["init"]))
    else:
        sem.pop("init", None)  # added after runs were logged: absent = a run from scratch
    if sem["data"]["dataset"] == "scenes":  # the generated data itself (settings + generator version)
        sem["scenes_fingerprint"] = preset(sem["data"]["scenes"]).fingerprint()
    return hashlib.sha256(json.dumps(sem, sort_keys=True, default=list).encode()).hexdigest()[:16]


def encoder_identity(name: str) -> str:
    """An encoder as the fingerprint sees it: its name, or for open_clip's local-dir:FOLDER the content of the
    folder's model config (not where the folder lies)."""

    folder = local_dir(name)
    if folder is None:
        return name
    cfg = json.loads((folder / CONFIG_FILE).read_text())["model_cfg"]
    return LOCAL_DIR + hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
