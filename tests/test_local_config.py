"""An open_clip / HF folder's open_clip_config.json is data: every malformed or oversized config is one line naming
the file and the field, before any tensor is built (issue 46's attack list)."""

from __future__ import annotations

import json

import pytest

from methods.encoders import build_encoders
from methods.encoders.local_config import parameter_bytes, read_model_config
from methods.errors import CheckpointError
from methods.interop import checkpoint_encoder

GOOD = {"model_cfg": {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                                                       "head_width": 16},
                      "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
        "preprocess_cfg": {}}


def _with(path_keys: tuple, value) -> dict:
    cfg = json.loads(json.dumps(GOOD))
    node = cfg
    for k in path_keys[:-1]:
        node = node[k]
    node[path_keys[-1]] = value
    return cfg


def _deep(n: int) -> str:
    return "[" * n + "]" * n


CASES = {
    "width 1e6": (json.dumps(_with(("model_cfg", "vision_cfg", "width"), 1_000_000)), "width"),
    "vocab 1e10": (json.dumps(_with(("model_cfg", "text_cfg", "vocab_size"), 10_000_000_000)), "vocab_size"),
    "1e5 layers": (json.dumps(_with(("model_cfg", "text_cfg", "layers"), 100_000)), "layers"),
    "patch 0": (json.dumps(_with(("model_cfg", "vision_cfg", "patch_size"), 0)), "patch_size"),
    "negative size": (json.dumps(_with(("model_cfg", "embed_dim"), -4)), "embed_dim"),
    "float size": (json.dumps(_with(("model_cfg", "vision_cfg", "layers"), 2.5)), "layers"),
    "string size": (json.dumps(_with(("model_cfg", "text_cfg", "width"), "512")), "width"),
    "bool size": (json.dumps(_with(("model_cfg", "text_cfg", "heads"), True)), "heads"),
    "patch over image": (json.dumps(_with(("model_cfg", "vision_cfg", "patch_size"), 64)), "larger than"),
    "not JSON": ("{model_cfg: nope", "Expecting"),
    "a list": ("[1, 2, 3]", "model_cfg"),
    "no model_cfg": (json.dumps({"preprocess_cfg": {}}), "model_cfg"),
    "vision_cfg a list": (json.dumps(_with(("model_cfg", "vision_cfg"), [1])), "vision_cfg"),
    "100k deep": ('{"model_cfg": ' + _deep(100_000) + "}", "depth"),
    "timm tower": (json.dumps(_with(("model_cfg", "vision_cfg", "timm_model_name"), "vit_base_patch16_224")),
                   "timm"),
    "HF tower": (json.dumps(_with(("model_cfg", "text_cfg", "hf_model_name"), "bert-base-uncased")), "Hugging Face"),
    "not UTF-8": (b"\xff\xfe\x00garbage", "UnicodeDecodeError|codec"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_config_is_one_line_naming_the_file_before_anything_is_built(tmp_path, case):
    content, expected = CASES[case]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "open_clip_config.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=expected) as err:
        build_encoders(f"local-dir:{folder}")
    assert "open_clip_config.json" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="open_clip_config.json"):
        checkpoint_encoder(folder)


def test_a_huge_file_is_refused_by_its_size_without_reading_it(tmp_path):
    path = tmp_path / "open_clip_config.json"
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # a sparse 1 GiB file: refused by stat, never read
    with pytest.raises(ValueError, match="bytes: a model config is under"):
        read_model_config(path)


def test_the_memory_estimate_refuses_what_this_machine_cannot_hold(tmp_path):
    big = _with(("model_cfg", "vision_cfg", "width"), 8192)
    big["model_cfg"]["vision_cfg"]["layers"] = 200
    assert parameter_bytes(big["model_cfg"]) > 600 * 2**30
    path = tmp_path / "open_clip_config.json"
    path.write_text(json.dumps(big))
    with pytest.raises(ValueError, match="GiB"):
        read_model_config(path, memory=24 * 2**30)
    path.write_text(json.dumps(GOOD))
    assert read_model_config(path, memory=24 * 2**30)["model_cfg"]["embed_dim"] == 32


def test_a_good_config_builds(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(GOOD))
    assert build_encoders(f"local-dir:{folder}").embed_dim == 32


def test_the_command_line_refuses_a_bad_encoder_folder_in_one_line(tmp_path, capsys):
    from experiments.run import main

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(CASES["width 1e6"][0])
    assert main(["train", f"encoder=local-dir:{folder}", "train.steps=1", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vision_cfg.width = 1000000" in err[0]


@pytest.mark.parametrize("name", ["ViT-B-16", "ViT-L-14", "ViT-Tiny-16-64"])
def test_the_parameter_estimate_matches_open_clips_count(name):
    import open_clip

    real = 4 * sum(p.numel() for p in open_clip.create_model(name).parameters())
    assert parameter_bytes(open_clip.get_model_config(name)) == pytest.approx(real, rel=0.01)
