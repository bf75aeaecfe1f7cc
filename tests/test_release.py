"""The official COSMOS release layout, both ways: a file with the official model's full key set loads strictly into
every part of a COSMOS method, evaluates, continues training, and exports back to the same layout."""

from __future__ import annotations

import json

import open_clip
import pytest
import torch

from experiments import config as C
from methods import build_method
from methods.encoders import build_encoders
from methods.errors import CheckpointError
from methods.interop import export_release, load_into, load_release

from .conftest import tiny_overrides


def official_extra_keys(embed: int, text_width: int, image_width: int) -> dict[str, tuple[int, ...]]:
    """The 21 keys the official model (--output-all --attentional-pool --cosmos) adds to open_clip's CLIP, with
    shapes from its structure: CLIP.distill_logit_scale, CLIP.{image,text}_token_mapping (nn.Linear(width,
    embed_dim)), VisionTransformer.attn_cross_pool = AttentionalCrossPooler(embed_dim, embed_dim) and
    TextTransformer.attn_cross_pool = AttentionalCrossPooler(width, width) (nn.MultiheadAttention + ln_q + ln_k),
    the latter kept as CLIP.text_attn_cross_pool."""
    keys = {"distill_logit_scale": (), "image_token_mapping.weight": (embed, image_width),
            "image_token_mapping.bias": (embed,), "text_token_mapping.weight": (embed, text_width),
            "text_token_mapping.bias": (embed,)}
    for prefix, d in (("visual.attn_cross_pool.", embed), ("text_attn_cross_pool.", text_width)):
        keys |= {prefix + "attn.in_proj_weight": (3 * d, d), prefix + "attn.in_proj_bias": (3 * d,),
                 prefix + "attn.out_proj.weight": (d, d), prefix + "attn.out_proj.bias": (d,),
                 prefix + "ln_q.weight": (d,), prefix + "ln_q.bias": (d,), prefix + "ln_k.weight": (d,),
                 prefix + "ln_k.bias": (d,)}
    return keys


def official_state(seed: int) -> dict[str, torch.Tensor]:
    """Random tensors under every key of the official ViT-Micro-8-32 COSMOS model."""
    g = torch.Generator().manual_seed(seed)
    clip = open_clip.create_model("ViT-Micro-8-32").state_dict()
    shapes = {k: tuple(v.shape) for k, v in clip.items()} | official_extra_keys(64, 64, 64)
    state = {k: 0.05 * torch.randn(shape, generator=g) for k, shape in shapes.items()}
    state["logit_scale"] = state["distill_logit_scale"] = torch.tensor(2.5)
    return state


@pytest.fixture
def release_file(tmp_path):
    student, teacher = official_state(1), official_state(2)
    path = tmp_path / "cosmos_release.pt"
    torch.save({"epoch": 32, "name": "cosmos", "student": {f"module.{k}": v for k, v in student.items()},
                "teacher": teacher, "optimizer": {}}, path)
    return path, student, teacher


def _cosmos(**extra):
    cfg = C.resolve(tiny_overrides("cosmos", **extra))
    torch.manual_seed(0)
    return build_method("cosmos", cfg.method_config, cfg.encoder), cfg


def test_a_release_file_with_the_full_key_set_loads_strictly_into_student_and_teacher(release_file):
    path, student, teacher = release_file
    assert len(official_extra_keys(64, 64, 64)) == 21
    method, _ = _cosmos()
    load_release(method, path)
    assert torch.equal(method.encoders.model.visual.proj, student["visual.proj"])
    assert torch.equal(method.teacher_encoders().model.token_embedding.weight, teacher["token_embedding.weight"])
    # the official text_attn_cross_pool pools text tokens for the image views: our image_xattn
    assert torch.equal(method.image_xattn.attn.in_proj_weight, student["text_attn_cross_pool.attn.in_proj_weight"])
    assert torch.equal(method.text_xattn.norm_kv.bias, student["visual.attn_cross_pool.ln_k.bias"])
    assert torch.equal(method.teacher.module["text_xattn"].norm_q.weight, teacher["visual.attn_cross_pool.ln_q.weight"])
    assert torch.equal(method.image_token_map.weight, student["image_token_mapping.weight"])
    assert method.distill.logit_scale.item() == pytest.approx(2.5)


def test_loaded_release_weights_give_open_clips_embeddings(release_file):
    path, student, teacher = release_file
    method, _ = _cosmos()
    load_release(method, path)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for weights, state in (("teacher", teacher), ("student", student)):
        ref = open_clip.create_model("ViT-Micro-8-32")
        ref.load_state_dict({k: v for k, v in state.items() if k not in official_extra_keys(64, 64, 64)})
        m, _ = _cosmos(**{"cosmos.eval_weights": weights})
        load_release(m, path)
        assert torch.allclose(m.eval().encode_image(x), ref.eval().encode_image(x, normalize=True), atol=1e-6)
        # eval-only encoders take the CLIP part of either side; the release's own layers are dropped
        enc = build_encoders("ViT-Micro-8-32")
        load_into(enc, path, which=weights)
        assert torch.allclose(enc.eval().encode_image(x), ref.encode_image(x, normalize=True), atol=1e-6)


def test_export_then_load_is_an_identity_and_keeps_the_official_key_set(release_file, tmp_path):
    path, student, _ = release_file
    method, _ = _cosmos()
    load_release(method, path)
    with torch.no_grad():  # a trained run: the student drifts from the file
        for p in method.parameters():
            p.add_(0.01)
    out = export_release(method, tmp_path / "export.pt", epoch=1)
    saved = torch.load(out, weights_only=True)
    assert set(saved["student"]) == {f"module.{k}" for k in student} and set(saved["teacher"]) == set(student)
    again, _ = _cosmos()
    load_release(again, out)
    for (k, a), b in zip(method.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(method.eval().encode_image(x), again.eval().encode_image(x))


def test_keys_that_match_nothing_are_named(release_file, tmp_path):
    path, student, teacher = release_file
    extra = dict(student) | {"visual.mystery.weight": torch.zeros(1)}
    extra.pop("text_token_mapping.bias")
    torch.save({"student": extra, "teacher": teacher}, tmp_path / "bad.pt")
    method, _ = _cosmos()
    with pytest.raises(CheckpointError, match=r"\(student\).*missing \['text_token_mapping.bias'\], "
                                              r"unexpected \['visual.mystery.weight'\]"):
        load_release(method, tmp_path / "bad.pt")
    no_xattn, _ = _cosmos(**{"cosmos.cross_attention": False})
    with pytest.raises(CheckpointError, match="unexpected .*attn_cross_pool"):
        load_release(no_xattn, path)


def test_training_continues_from_a_release_file(release_file, scenes, tmp_path):
    """init=FILE starts a run from the release's student and teacher; with the official EMA order the teacher
    after one step is exactly lerp(teacher, pre-step student, 1 - m)."""
    from experiments.experiment import run_training

    path, student, teacher = release_file
    cfg = C.resolve(tiny_overrides("cosmos", **{"init": str(path), "train.steps": 1}))
    run = run_training(cfg, tmp_path)
    assert run.status == "COMPLETED" and run.info["init"] == str(path)
    last = torch.load(tmp_path / "checkpoints" / C.fingerprint(cfg) / "last.pt", weights_only=True)["model"]
    from methods.modules import ema_momentum, horizon_momentum

    own = cfg.cosmos  # the base momentum: ema_momentum, or the horizon's share of the run (v5's rule)
    base = horizon_momentum(own.ema_horizon, 1) if own.ema_horizon else own.ema_momentum
    m = ema_momentum(base, own.ema_schedule, 0, 1)
    key = "visual.transformer.resblocks.0.mlp.c_fc.weight"
    expected = teacher[key] * m + (1 - m) * student[key]
    assert torch.allclose(last[f"teacher.module.encoders.model.{key}"], expected, atol=1e-7)
    assert C.fingerprint(cfg) != C.fingerprint(C.resolve(tiny_overrides("cosmos", **{"train.steps": 1})))
    info = json.loads((tmp_path / "1" / "info.json").read_text())
    assert info["init"] == str(path)


def test_release_files_of_the_wrong_types_are_one_error_never_an_attribute_error_or_a_cast(release_file, tmp_path):
    from methods.interop import load_into, read_state_dict

    path, student, teacher = release_file
    method, _ = _cosmos()
    cases = {"int values": {"student": {"a": 1}, "teacher": teacher},
             "int keys": {"student": {1: torch.zeros(1)}, "teacher": teacher},
             "str values": {"student": student, "teacher": {"a": "b"}}}
    for name, content in cases.items():
        torch.save(content, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match="is not a state dict"):
            load_release(method, tmp_path / "bad.pt")
    torch.save({"model": 1, "optimizer": 2}, tmp_path / "suite.pt")
    with pytest.raises(CheckpointError, match=r"\('model'\) is not a state dict"):
        read_state_dict(tmp_path / "suite.pt")
    complex_student = dict(student) | {"logit_scale": torch.tensor(2.5 + 0j)}
    torch.save({"student": complex_student, "teacher": teacher}, tmp_path / "complex.pt")
    with pytest.raises(CheckpointError, match="complex tensors where float weights go \\(logit_scale"):
        load_release(method, tmp_path / "complex.pt")
    torch.save({k: v.long() if k == "logit_scale" else v for k, v in student.items()}, tmp_path / "int.pt")
    with pytest.raises(CheckpointError, match="integer tensors where float weights go \\(logit_scale"):
        load_into(method.encoders, tmp_path / "int.pt")
