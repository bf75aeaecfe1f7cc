"""Checkpoint interop: export -> open_clip round trip, strict loading with named keys, release formats."""

from __future__ import annotations

import pytest
import torch

from methods import build_method
from methods.encoders import build_encoders
from methods.errors import CheckpointError
from methods.interop import export_open_clip, load_into, read_state_dict

from .test_methods import _build


@pytest.mark.parametrize("name,contrastive", [("clip", "softmax"), ("cosmos", "softmax"), ("clip", "sigmoid"),
                                              ("cosmos", "sigmoid")])
def test_exported_method_loads_in_open_clip_with_the_same_embeddings(name, contrastive, tmp_path):
    """The export holds the sigmoid loss's bias as open_clip's init_logit_bias, so plain open_clip builds the
    parameter and loads it with the weights."""
    import open_clip

    method = _build(name, **{f"{name}.contrastive": contrastive}).eval()
    with torch.no_grad():
        method.encoders.logit_scale.add_(0.25)  # trained values, not the initialisation, must travel
        if contrastive == "sigmoid":
            method.encoders.logit_bias.add_(1.5)
    folder = export_open_clip(method, tmp_path / "export")
    assert sorted(p.name for p in folder.iterdir()) == ["open_clip_config.json", "open_clip_model.safetensors"]
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.encode_image(x, normalize=True), method.encode_image(x), atol=1e-5)
    tokens = open_clip.get_tokenizer(f"local-dir:{folder}")(["a red square", "two blue circles"])
    assert torch.equal(tokens, method.encoders.tokenizer()(["a red square", "two blue circles"]))
    assert torch.allclose(model.encode_text(tokens, normalize=True), method.encode_text(tokens), atol=1e-5)
    assert torch.equal(model.logit_scale, method.eval_encoders().logit_scale)
    if contrastive == "sigmoid":
        assert torch.equal(model.logit_bias, method.eval_encoders().logit_bias)
    else:
        assert getattr(model, "logit_bias", None) is None


def test_strict_load_names_missing_and_unexpected_keys(tmp_path):
    enc = build_encoders("ViT-Micro-8-32")
    state = dict(enc.model.state_dict())
    state.pop("logit_scale")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"missing \['logit_scale'\].*unexpected \['extra.weight'\]"):
        load_into(enc, tmp_path / "bad.pt")


def test_release_style_checkpoints_need_a_choice_and_load_the_chosen_weights(tmp_path):
    torch.manual_seed(1)
    student = build_encoders("ViT-Micro-8-32")
    teacher = build_encoders("ViT-Micro-8-32")
    torch.save({"student": {f"module.{k}": v for k, v in student.model.state_dict().items()},
                "teacher": teacher.model.state_dict()}, tmp_path / "cosmos.pt")
    with pytest.raises(CheckpointError, match="checkpoint_weights=student"):
        read_state_dict(tmp_path / "cosmos.pt")
    target = build_encoders("ViT-Micro-8-32")
    load_into(target, tmp_path / "cosmos.pt", which="student")
    assert all(torch.equal(a, b) for a, b in zip(target.model.state_dict().values(),
                                                 student.model.state_dict().values()))
    load_into(target, tmp_path / "cosmos.pt", which="teacher")
    assert all(torch.equal(a, b) for a, b in zip(target.model.state_dict().values(),
                                                 teacher.model.state_dict().values()))


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_into(build_method("clip", _build("clip").cfg, "ViT-Micro-8-32").encoders, tmp_path / "none.pt")


def test_eval_only_run_records_a_sacred_run_of_a_local_checkpoint(scenes, tmp_path):
    import json

    from experiments.run import main

    enc = build_encoders("ViT-Micro-8-32")
    torch.save(enc.model.state_dict(), tmp_path / "w.pt")
    args = ["eval", f"checkpoint={tmp_path / 'w.pt'}", "encoder=ViT-Micro-8-32", "data.scenes=test",
            "eval.sets=retrieval/scenes", "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 0
    run = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
    info = json.loads((tmp_path / "runs" / "1" / "info.json").read_text())
    assert run["status"] == "COMPLETED" and "retrieval/scenes/i2t_r1" in run["result"]
    assert info["data"].startswith("checkpoint ") and len(info["fingerprint"]) == 16
    assert main(["eval", "encoder=ViT-Micro-8-32"]) == 2  # no checkpoint: a clear error


def test_suite_training_checkpoints_load_student_or_teacher(tmp_path):
    from methods.checkpoint import save_atomic

    method = _build("cosmos")
    with torch.no_grad():
        for p in method.teacher.parameters():
            p.add_(1.0)
    save_atomic({"model": method.state_dict(), "optimizer": {}}, tmp_path / "last.pt")
    for which, source in (("student", method.encoders), ("teacher", method.teacher_encoders())):
        target = build_encoders("ViT-Micro-8-32")
        load_into(target, tmp_path / "last.pt", which=which)
        assert all(torch.equal(a, b) for a, b in zip(target.model.state_dict().values(),
                                                     source.model.state_dict().values())), which


def _eval(checkpoint, runs, *extra) -> dict:
    import json

    from experiments.run import main

    code = main(["eval", f"checkpoint={checkpoint}", "data.scenes=test", "eval.sets=retrieval/scenes", *extra,
                 "--runs-dir", str(runs)])
    assert code == 0
    last = max((p for p in runs.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return json.loads((last / "run.json").read_text()) | {"info": json.loads((last / "info.json").read_text())}


def test_an_open_clip_folder_or_safetensors_file_evaluates(scenes, tmp_path):
    import shutil

    method = _build("clip").eval()
    folder = export_open_clip(method, tmp_path / "a" / "export")
    first = _eval(folder, tmp_path / "runs")  # no encoder=: the folder's config names the model
    assert first["status"] == "COMPLETED" and "retrieval/scenes/i2t_r1" in first["result"]
    moved = shutil.copytree(folder, tmp_path / "b" / "elsewhere")
    again = _eval(moved, tmp_path / "runs2")
    assert again["info"]["fingerprint"] == first["info"]["fingerprint"], "the weights, not where they lie"
    assert again["result"] == first["result"]
    single = _eval(folder / "open_clip_model.safetensors", tmp_path / "runs3", "encoder=ViT-Micro-8-32")
    assert single["result"] == first["result"]
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="unreadable safetensors file"):
        read_state_dict(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="holds no weights file"):
        read_state_dict(tmp_path)


def test_a_suite_run_exports_to_open_clip_and_its_checkpoint_names_its_encoder(scenes, tmp_path):
    import json

    import open_clip

    from experiments.run import main
    from methods.interop import method_from_checkpoint

    from .conftest import tiny_overrides

    args = ["train", *(f"{k}={v}" for k, v in tiny_overrides("clip", **{"train.steps": 2}).items()),
            "eval.sets=[]", "context_length=24",
            "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 0
    fp = json.loads((tmp_path / "runs" / "1" / "info.json").read_text())["fingerprint"]
    ckpt = tmp_path / "runs" / "checkpoints" / fp / "last.pt"
    trained = method_from_checkpoint(ckpt).eval()
    assert trained.encoders.name == "ViT-Micro-8-32" and trained.encoders.context_length == 24
    assert main(["export", str(tmp_path / "runs" / "1"), str(tmp_path / "out")]) == 0
    model = open_clip.create_model(f"local-dir:{tmp_path / 'out'}").eval()
    tokens = open_clip.get_tokenizer(f"local-dir:{tmp_path / 'out'}")(["a red square"])
    assert tokens.shape == (1, 24)
    assert torch.allclose(model.encode_text(tokens, normalize=True), trained.encode_text(tokens), atol=1e-5)
    result = _eval(ckpt, tmp_path / "runs")  # no encoder= or context_length=
    assert result["status"] == "COMPLETED"
    by_folder = _eval(tmp_path / "runs" / "1", tmp_path / "runs")  # runs/<id>, as `export` takes it
    assert by_folder["status"] == "COMPLETED" and by_folder["info"]["fingerprint"] == result["info"]["fingerprint"]
    assert main(["export", str(tmp_path / "runs" / "1"), str(tmp_path / "r.pt"), "--format", "release"]) == 2


def test_init_from_an_open_clip_folder_starts_student_and_teacher_from_its_weights(tmp_path):
    import shutil

    from experiments import config as C
    from methods.interop import load_init

    source = _build("clip").eval()
    with torch.no_grad():
        for p in source.encoders.parameters():
            p.add_(0.01)
    folder = export_open_clip(source, tmp_path / "a" / "pretrained")
    method = _build("cosmos")
    load_init(method, folder)
    want = source.encoders.model.state_dict()
    for enc in (method.encoders, method.teacher_encoders()):
        assert all(torch.equal(v, want[k]) for k, v in enc.model.state_dict().items())
    from .conftest import tiny_overrides

    cfg = C.resolve(tiny_overrides("cosmos", init=str(folder)))
    moved = shutil.copytree(folder, tmp_path / "b" / "moved")
    assert C.fingerprint(cfg) == C.fingerprint(C.resolve(tiny_overrides("cosmos", init=str(moved))))
    assert C.fingerprint(cfg) != C.fingerprint(C.resolve(tiny_overrides("cosmos")))
    with pytest.raises(C.ConfigError, match="neither a file nor an open_clip"):
        C.resolve(tiny_overrides("cosmos", init=str(tmp_path / "nowhere")))


def test_export_targets_and_damaged_run_folders_are_one_line(scenes, tmp_path, capsys):
    """export onto a file, a release into a folder, from a run whose info.json is not JSON or names no
    fingerprint: one line, exit 2, nothing written."""
    import json

    from experiments.run import main

    from .conftest import tiny_overrides

    runs = tmp_path / "runs"
    args = ["train", *(f"{k}={v}" for k, v in tiny_overrides("clip", **{"train.steps": 2}).items()), "eval.sets=[]",
            "--runs-dir", str(runs)]
    assert main(args) == 0
    capsys.readouterr()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [(["export", str(runs / "1"), str(a_file)], "is a file; the open_clip format writes a folder"),
             (["export", str(runs / "1"), str(tmp_path), "--format", "release"], "is a folder; give the release")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    info = runs / "1" / "info.json"
    good = info.read_text()
    for bad, message in (("{not json", "is not a run's info.json"),
                         (json.dumps({"fingerprint": "../../etc"}), "names no fingerprint")):
        info.write_text(bad)
        assert main(["export", str(runs / "1"), str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    info.write_text(good)
    assert a_file.read_text() == "x"
