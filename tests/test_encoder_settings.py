"""The text tower's activation (`text_act`) and the images' normalisation (`image_norm`): what SLIP's recipe sets
(QuickGELU text Transformer, ImageNet mean/std). One setting each, read by training, every evaluator, checkpoints
and exports."""

from __future__ import annotations

import json

import pytest
import torch
from open_clip.constants import IMAGENET_MEAN, IMAGENET_STD, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torchvision import transforms as T

from experiments import config as C
from experiments.errors import ConfigError
from methods.data.on_device import to_device
from methods.data.views import ImageView, image_pipeline
from methods.encoders import build_encoders
from methods.errors import CheckpointError
from methods.evals.embed import eval_transform
from methods.interop import checkpoint_encoder, export_open_clip, method_from_checkpoint

from .conftest import tiny_overrides


def _text_and_image(enc, tokens, images):
    with torch.no_grad():
        return enc.encode_text(tokens), enc.encode_image(images)


def test_quick_gelu_switches_the_text_tower_alone_as_open_clip_builds_it():
    """text_act=quick_gelu equals open_clip's quick_gelu=True model on the text and its GELU model on the image,
    with the same weights: exactly SLIP's pair (QuickGELU text Transformer, timm ViT with GELU)."""
    import open_clip

    ours = build_encoders("ViT-Micro-8-32", text_act="quick_gelu").eval()
    state = ours.model.state_dict()
    quick = open_clip.create_model("ViT-Micro-8-32", quick_gelu=True).eval()
    plain = open_clip.create_model("ViT-Micro-8-32").eval()
    quick.load_state_dict(state)
    plain.load_state_dict(state)
    tokens = ours.tokenizer()(["a red square above a blue circle", "two green triangles"])
    images = torch.randn(2, 3, 32, 32)
    text, image = _text_and_image(ours, tokens, images)
    with torch.no_grad():
        assert torch.equal(text, quick.encode_text(tokens, normalize=True))
        assert torch.equal(image, plain.encode_image(images, normalize=True))
        assert not torch.allclose(text, plain.encode_text(tokens, normalize=True), atol=1e-4)
    assert ours.text_act == "quick_gelu" and build_encoders("ViT-Micro-8-32").text_act == "gelu"


@pytest.mark.parametrize("kwargs,word", [({"text_act": "relu"}, "text activation"),
                                         ({"image_norm": "siglip"}, "image normalisation")])
def test_unknown_settings_are_one_line_errors(kwargs, word):
    with pytest.raises(ValueError, match=word) as err:
        build_encoders("ViT-Micro-8-32", **kwargs)
    assert "\n" not in str(err.value)


def test_imagenet_normalisation_reaches_training_batches_and_evaluators():
    from PIL import Image

    enc = build_encoders("ViT-Micro-8-32", image_norm="imagenet")
    assert (enc.image_mean, enc.image_std, enc.image_norm) == (IMAGENET_MEAN, IMAGENET_STD, "imagenet")
    pil = Image.fromarray(torch.randint(0, 256, (40, 48, 3), dtype=torch.uint8).numpy())
    crop = image_pipeline(ImageView(size=32, train=False))(pil)  # uint8: normalised on the device
    assert crop.dtype == torch.uint8
    got = to_device({"image": crop[None]}, torch.device("cpu"), enc.image_mean, enc.image_std)["image"][0]
    assert torch.allclose(got, eval_transform(enc)(pil), atol=1e-6)  # the evaluators' transform, the same numbers
    want = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(crop.float() / 255)
    assert torch.allclose(got, want, atol=1e-6)
    clip = to_device({"image": crop[None]}, torch.device("cpu"))["image"][0]  # the default: CLIP's constants
    assert torch.allclose(clip, T.Normalize(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)(crop.float() / 255), atol=1e-6)


def test_the_slip_recipe_sets_both_and_its_audit_lists_them_equal():
    run = C.resolve({"method": "slip", "scale": "paper", "recipe": "slip_yfcc15m", "recipe_samples": 14_000_000,
                     "data.shards": "/tmp/shards"})
    assert (run.text_act, run.image_norm) == ("quick_gelu", "imagenet")
    rows = {key: (value, official, equal) for key, value, official, _, equal in
            C.recipe_audit("slip_yfcc15m", "slip", run, 14_000_000)}
    assert rows["text_act"] == ("quick_gelu", "quick_gelu", True)
    assert rows["image_norm"] == ("imagenet", "imagenet", True)
    default = C.resolve({"method": "slip", "scale": "tiny"})
    assert (default.text_act, default.image_norm) == ("gelu", "openai")
    changed = C.resolve({"method": "slip", "scale": "tiny", "text_act": "quick_gelu"})
    assert C.fingerprint(changed) != C.fingerprint(default)  # the defaults stay out of older runs' fingerprints
    with pytest.raises(ConfigError, match="valid choices: gelu, quick_gelu"):
        C.resolve({"method": "clip", "text_act": "swish"})


def test_a_run_with_both_records_them_and_every_reader_of_its_checkpoint_uses_them(scenes, tmp_path):
    from experiments.run import main

    runs = tmp_path / "runs"
    args = ["train", *(f"{k}={v}" for k, v in tiny_overrides("slip", **{"train.steps": 2}).items()),
            "eval.sets=[retrieval/scenes]", "text_act=quick_gelu", "image_norm=imagenet", "--runs-dir", str(runs)]
    assert main(args) == 0
    fp = json.loads((runs / "1" / "info.json").read_text())["fingerprint"]
    ckpt = runs / "checkpoints" / fp / "last.pt"
    assert checkpoint_encoder(ckpt) == {"encoder": "ViT-Micro-8-32", "context_length": 48, "text_act": "quick_gelu",
                                        "image_norm": "imagenet"}
    trained = method_from_checkpoint(ckpt)
    assert (trained.encoders.text_act, trained.encoders.image_norm) == ("quick_gelu", "imagenet")
    with pytest.raises(CheckpointError, match="QuickGELU text tower") as err:  # open_clip cannot express it
        export_open_clip(trained, tmp_path / "export")
    assert "\n" not in str(err.value)
    assert main(["eval", f"checkpoint={ckpt}", "data.scenes=test", "eval.sets=[retrieval/scenes]",
                 "--runs-dir", str(runs)]) == 0  # no text_act= / image_norm=: the checkpoint names them
    recorded = json.loads((runs / "2" / "config.json").read_text())
    assert (recorded["text_act"], recorded["image_norm"]) == ("quick_gelu", "imagenet")
    first = json.loads((runs / "1" / "metrics.json").read_text())
    second = json.loads((runs / "2" / "metrics.json").read_text())
    keys = [k for k in first if k.startswith("retrieval/")]
    assert len(keys) >= 6 and all(first[k]["values"][-1] == pytest.approx(second[k]["values"][-1]) for k in keys)


def test_an_imagenet_normalised_export_carries_its_constants_into_open_clip(tmp_path):
    import open_clip

    from methods import build_method

    cfg = C.resolve(tiny_overrides("clip"))
    method = build_method("clip", cfg.method_config, cfg.encoder, image_norm="imagenet").eval()
    folder = export_open_clip(method, tmp_path / "export")
    _, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    norm = next(t for t in preprocess.transforms if isinstance(t, T.Normalize))
    assert (tuple(norm.mean), tuple(norm.std)) == (IMAGENET_MEAN, IMAGENET_STD)
    assert checkpoint_encoder(folder)["image_norm"] == "imagenet"
    cfg_file = folder / "open_clip_config.json"
    data = json.loads(cfg_file.read_text())
    data["preprocess_cfg"]["mean"] = [0.1, 0.2, 0.3]
    cfg_file.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="none of the normalisations"):
        checkpoint_encoder(folder)
