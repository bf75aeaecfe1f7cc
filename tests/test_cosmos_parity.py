"""One full COSMOS training step (2 x 224 + 6 x 96 crops, 8 texts) in float64 against a hand-built reference of
the official computation (ExplainableML/cosmos: CLIP.forward with MultiCropWrap, AttentionalCrossPooler,
DINO's interpolate_pos_encoding, COSMOSLoss, the teacher on the global views): losses and every gradient agree
to 1e-12 relative.

The reference is written here from the official code's structure, on the same parameter tensors, with open_clip's
own blocks (which the official fork shares): ln_pre / transformer / ln_post and the text transformer run as
open_clip modules; everything COSMOS adds is spelled out."""

from __future__ import annotations

import json
import math

import open_clip
import pytest
import torch
import torch.nn.functional as F

from experiments import config as C
from methods import build_method
from methods.data.views import random_batch

from .conftest import tiny_overrides

PARITY_MODEL = {"embed_dim": 32,
                "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
                "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def parity_encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("configs")
    (folder / "ViT-Parity-16-224.json").write_text(json.dumps(PARITY_MODEL))
    open_clip.add_model_config(folder)
    return "ViT-Parity-16-224"


def dino_pos(pe, w0: int, h0: int):
    """interpolate_pos_encoding of the official VisionTransformer (DINO's), for a w0 x h0 patch grid."""
    n = pe.shape[0] - 1
    if w0 * h0 == n and w0 == h0:
        return pe
    g = int(math.sqrt(n))
    grid = pe[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((w0 + 0.1) / g, (h0 + 0.1) / g), mode="bicubic")
    return torch.cat([pe[:1], grid.permute(0, 2, 3, 1).reshape(w0 * h0, -1)])


def official_visual(model, x):
    """The official VisionTransformer.forward with output_all: (tokens after ln_post without CLS, pooled @ proj)."""
    v = model.visual
    p = v.conv1.weight.shape[-1]
    z = v.conv1(x).reshape(x.shape[0], v.conv1.out_channels, -1).permute(0, 2, 1)
    z = torch.cat([v.class_embedding.expand(z.shape[0], 1, -1), z], dim=1)
    z = z + dino_pos(v.positional_embedding, x.shape[2] // p, x.shape[3] // p)
    z = v.ln_post(v.transformer(v.ln_pre(z)))
    return z[:, 1:], z[:, 0] @ v.proj


def official_text(model, text):
    """The official CLIP.encode_text with output_all: (all tokens after ln_final, EOT token @ text_projection)."""
    x = model.token_embedding(text) + model.positional_embedding
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
    return x, x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ model.text_projection


def cross_pool(pool, tokens, query):
    """AttentionalCrossPooler.forward(x=tokens, q=query): LayerNorms, then sequence-first multi-head attention."""
    attn = pool.attn
    k = F.layer_norm(tokens, tokens.shape[-1:], pool.norm_kv.weight, pool.norm_kv.bias).permute(1, 0, 2)
    q = F.layer_norm(query, query.shape[-1:], pool.norm_q.weight, pool.norm_q.bias).permute(1, 0, 2)
    out = F.multi_head_attention_forward(q, k, k, attn.embed_dim, attn.num_heads, attn.in_proj_weight,
                                         attn.in_proj_bias, None, None, False, 0.0, attn.out_proj.weight,
                                         attn.out_proj.bias, training=False, need_weights=False)[0]
    return out.permute(1, 0, 2)


def clip_loss(images, texts, scale):
    """The official ClipLoss over lists of feature chunks: the mean over (image chunk, text chunk) pairs."""
    total, n = 0.0, 0
    for a in images:
        for b in texts:
            logits = scale * a @ b.T
            labels = torch.arange(len(a))
            total = total + (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            n += 1
    return total / n


def official_step_loss(method, batch):
    """The official student + teacher forward and COSMOSLoss on one batch; returns (clip_loss, distill_loss)."""
    model, teacher = method.encoders.model, method.teacher_encoders().model
    b = batch["global1"].shape[0]
    images = [batch["global1"], batch["global2"]] + list(batch["local"].transpose(0, 1))
    texts = batch["texts"].transpose(0, 1).reshape(-1, batch["texts"].shape[-1])  # (8B, L), view-major
    # MultiCropWrap: one pass per resolution; tokens of the global pass only, through image_token_mapping
    g_tokens, g_out = official_visual(model, torch.cat(images[:2]))
    _, l_out = official_visual(model, torch.cat(images[2:]))
    img_features = torch.cat([g_out, l_out])  # (8B, D)
    img_tokens = method.image_token_map(g_tokens)[:b]  # the first global crop
    t_tokens, txt_features = official_text(model, texts)
    txt_tokens = method.text_token_map(t_tokens)[:b]  # the first global caption
    n_img, n_txt = len(img_features) // b, len(txt_features) // b
    # text_attn_cross_pool (ours: image_xattn): image views attend to the first caption's tokens, residually
    img_cross = F.normalize(img_features + cross_pool(method.image_xattn, txt_tokens.repeat(n_img, 1, 1),
                                                      img_features.unsqueeze(1)).squeeze(1), dim=-1)
    txt_cross = F.normalize(txt_features + cross_pool(method.text_xattn, img_tokens.repeat(n_txt, 1, 1),
                                                      txt_features.unsqueeze(1)).squeeze(1), dim=-1)
    with torch.no_grad():  # the teacher sees the 2 global crops and the 2 global captions
        t_img = F.normalize(official_visual(teacher, torch.cat(images[:2]))[1], dim=-1)
        t_txt = F.normalize(official_text(teacher, texts[:2 * b])[1], dim=-1)
    s_img = F.normalize(img_features, dim=-1).chunk(n_img)
    s_txt = F.normalize(txt_features, dim=-1).chunk(n_txt)
    scale = method.distill.logit_scale.exp()
    distill = (clip_loss(img_cross.chunk(n_img), t_img.chunk(2), scale)
               + clip_loss(img_cross.chunk(n_img), t_txt.chunk(2), scale)
               + clip_loss(txt_cross.chunk(n_txt), t_img.chunk(2), scale)
               + clip_loss(txt_cross.chunk(n_txt), t_txt.chunk(2), scale)) / 4
    clip = clip_loss(s_img[:2], s_txt, model.logit_scale.exp())  # local crops are not in the CLIP loss
    return clip, distill


def test_a_cosmos_step_equals_the_official_computation_in_float64(parity_encoder):
    cfg = C.resolve(tiny_overrides("cosmos", **{"encoder": parity_encoder, "cosmos.local_size": 96,
                                                "cosmos.local_crops": 6}))
    torch.manual_seed(0)
    method = build_method("cosmos", cfg.method_config, parity_encoder).double().train()
    with torch.no_grad():  # a teacher that differs from the student, as after some training
        for p in method.teacher.parameters():
            p.add_(0.01 * torch.randn_like(p))
    batch = {k: v.double() if v.is_floating_point() else v
             for k, v in random_batch(method.views, 2, method.encoders.context_length, length=10, seed=3).items()}
    assert batch["global1"].shape[-1] == 224 and batch["local"].shape[1:3] == (6, 3) and batch["texts"].shape[1] == 8
    params = [p for p in method.parameters() if p.requires_grad]
    out = method(batch)
    ours = torch.autograd.grad(out["loss"], params)
    clip, distill = official_step_loss(method, batch)
    theirs = torch.autograd.grad(clip + distill, params)
    assert out["clip_loss"].item() == pytest.approx(clip.item(), rel=1e-12)
    assert out["distill_loss"].item() == pytest.approx(distill.item(), rel=1e-12)
    names = [n for n, p in method.named_parameters() if p.requires_grad]
    worst = max((a - b).abs().max().item() / max(b.abs().max().item(), 1e-300) for a, b in zip(ours, theirs))
    for name, a, b in zip(names, ours, theirs):
        assert (a - b).abs().max() <= 1e-12 * b.abs().max().clamp(min=1e-30), name
    assert worst <= 1e-12, worst
    print(f"worst relative gradient difference {worst:.2e} over {len(params)} tensors")
    # the interpolation is DINO's: with the earlier rule the step differs
    size = C.resolve(tiny_overrides("cosmos", **{"encoder": parity_encoder, "cosmos.local_size": 96,
                                                 "cosmos.local_crops": 6, "cosmos.pos_interp": "size"}))
    other = build_method("cosmos", size.method_config, parity_encoder).double()
    other.load_state_dict(method.state_dict())
    assert abs(other(batch)["loss"].item() - out["loss"].item()) > 1e-9
