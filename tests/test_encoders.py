"""The encoder zoo: parity with open_clip, token outputs, interpolated and cached positional embeddings."""

from __future__ import annotations

import open_clip
import pytest
import torch

from methods.encoders import ZOO, build_encoders


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return build_encoders("ViT-Micro-8-32").eval()


def _text(enc, n=3):
    return enc.tokenizer()(["a red circle", "two blue digit sevens on the left", "x"][:n])


def test_zoo_names_resolve_in_open_clip():
    assert set(ZOO) <= set(open_clip.list_models())


def test_pooled_outputs_match_open_clip(enc):
    x = torch.randn(2, 3, 32, 32)
    t = _text(enc)
    with torch.no_grad():
        assert torch.allclose(enc.encode_image(x), enc.model.encode_image(x, normalize=True), atol=1e-6)
        assert torch.allclose(enc.encode_text(t), enc.model.encode_text(t, normalize=True), atol=1e-6)


def test_token_outputs_have_the_documented_shapes(enc):
    with torch.no_grad():
        pooled, tokens = enc.image_forward(torch.randn(2, 3, 32, 32))
        assert pooled.shape == (2, enc.embed_dim) and tokens.shape == (2, 16, enc.image_width)
        # tokens are after ln_post: per-token mean ~ 0 before the learned gain/bias (init 1 / 0)
        assert tokens.mean(-1).abs().max() < 1e-4
        pooled, tokens = enc.text_forward(_text(enc))
        assert tokens.shape == (3, enc.context_length, enc.text_width)


def test_smaller_inputs_use_interpolated_positions_cached_without_grad(enc):
    with torch.no_grad():
        z1 = enc.encode_image(torch.randn(2, 3, 16, 16))
        pe1 = enc.positional_embedding(2, 2)
        assert pe1 is enc.positional_embedding(2, 2), "no-grad interpolation is cached per resolution"
    assert z1.shape == (2, enc.embed_dim) and pe1.shape == (5, enc.image_width)
    full = enc.model.visual.positional_embedding
    assert enc.positional_embedding(4, 4) is full, "native grid is never interpolated"
    with torch.no_grad():
        full.add_(1.0)  # a weight update bumps the parameter version: the cache must not serve stale values
        pe2 = enc.positional_embedding(2, 2)
        full.sub_(1.0)
    assert pe2 is not pe1 and torch.allclose(pe2[0], pe1[0] + 1.0)


def test_interpolated_positions_carry_gradient_in_training(enc):
    enc.train()
    x = torch.randn(2, 3, 16, 16)
    enc.encode_image(x).sum().backward()
    assert enc.model.visual.positional_embedding.grad.abs().sum() > 0
    enc.zero_grad()
    enc.eval()


def test_unknown_encoder_names_the_choices():
    with pytest.raises(ValueError, match="valid choices: ViT-B-16"):
        build_encoders("ViT-Q-99")
