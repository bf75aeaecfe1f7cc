"""Attention / similarity maps: shapes and ranges, COSMOS cross-attention weights, the saved file and the figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.evals.attention import attention_maps, patch_text_maps

from .test_methods import _build


def test_patch_text_map_is_normalised_per_image():
    method = _build("clip").eval()
    tokens = method.encoders.tokenizer()(["a red square", "a blue circle"])
    maps = patch_text_maps(method, torch.randn(2, 3, 32, 32), tokens)
    assert maps.shape == (2, 4, 4)
    assert torch.allclose(maps.flatten(1).min(1).values, torch.zeros(2))
    assert torch.allclose(maps.flatten(1).max(1).values, torch.ones(2))


def test_cosmos_cross_attention_weights_are_distributions_over_patches_and_tokens():
    method = _build("cosmos").eval()
    tokens = method.encoders.tokenizer()(["a red square", "a blue circle"])
    out = method.cross_attention_maps(torch.randn(2, 3, 32, 32), tokens)
    assert out["xattn_patches"].shape == (2, 4, 4) and out["xattn_tokens"].shape == (2, 16)
    assert torch.allclose(out["xattn_patches"].flatten(1).sum(1), torch.ones(2), atol=1e-5)
    assert torch.allclose(out["xattn_tokens"].sum(1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("name", ["clip", "cosmos"])
def test_maps_of_benchmark_images_and_their_figure(name, scenes, tmp_path):
    from analysis.figures import plot_attention

    maps = attention_maps(_build(name).eval(), scenes, n=3)
    assert maps["images"].shape == (3, 32, 32, 3) and maps["patch_text"].shape == (3, 4, 4)
    assert len(maps["captions"]) == 3 and all(len(t) for t in maps["tokens"])
    assert ("xattn_patches" in maps) == (name == "cosmos")
    np.savez(tmp_path / "m.npz", **maps)
    with np.load(tmp_path / "m.npz") as z:
        path = plot_attention({name: {k: z[k] for k in z.files}}, tmp_path / "fig.png")
    assert path.stat().st_size > 1000
