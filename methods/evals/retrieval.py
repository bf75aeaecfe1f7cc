"""Zero-shot image-text retrieval: R@K in both directions from global embeddings (CLIP protocol).

An image's i2t rank is the number of other images' captions scoring at least as high as its best caption; a
caption's t2i rank is the number of other images scoring at least as high as its own image. Ties count against
the query (a conservative rule: a collapsed model whose scores are all equal ranks last, never first), and the
positives are read from the same matrix product as the negatives, so no rounding difference decides a rank.
Non-finite embeddings are refused (methods/evals/finite.py). Similarities are chunked matrix products, never a
Python loop over queries.
"""

from __future__ import annotations

import re

import torch

from . import datasets, scenesets
from .evaluator import Evaluator, percent, require_images
from .finite import require_finite


def retrieval_metrics(image_emb: torch.Tensor, text_emb: torch.Tensor, text_to_image: torch.Tensor,
                      ks: tuple[int, ...] = (1, 5, 10), chunk: int = 1024) -> dict[str, float]:
    """image_emb (N, D), text_emb (M, D) normalised; text_to_image (M,) long: the image of each caption.

    Returns {"i2t_r1": %, ..., "t2i_r10": %}.
    """
    i2t_rank, t2i_rank = retrieval_ranks(image_emb, text_emb, text_to_image, chunk)
    return recalls(i2t_rank, t2i_rank, ks)


def recalls(i2t_rank: torch.Tensor, t2i_rank: torch.Tensor, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = 100.0 * (i2t_rank < k).float().mean().item()
        out[f"t2i_r{k}"] = 100.0 * (t2i_rank < k).float().mean().item()
    return out


def retrieval_ranks(image_emb: torch.Tensor, text_emb: torch.Tensor, text_to_image: torch.Tensor,
                    chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) rank of each image's best caption and (M,) rank of each caption's image (0 = first)."""
    require_finite(image_emb, "image embeddings")
    require_finite(text_emb, "text embeddings")
    n, m = len(image_emb), len(text_emb)
    text_to_image = text_to_image.to(torch.long)
    i2t_rank = torch.empty(n, dtype=torch.long)
    t2i_rank = torch.zeros(m, dtype=torch.long)
    pos = torch.empty(m, dtype=image_emb.dtype)
    cols = torch.arange(m)

    def block(s: int):
        sims = image_emb[s:s + chunk] @ text_emb.T  # (chunk, M)
        own = text_to_image[None, :] == torch.arange(s, s + len(sims))[:, None]  # caption j belongs to image i
        return sims, own

    for s in range(0, n, chunk):  # pass 1: i2t ranks, and each caption's positive score
        sims, own = block(s)
        best = sims.masked_fill(~own, float("-inf")).amax(dim=1)  # an image's best caption
        i2t_rank[s:s + chunk] = ((sims >= best[:, None]) & ~own).sum(dim=1)
        mine = (text_to_image >= s) & (text_to_image < s + len(sims))
        pos[mine] = sims[text_to_image[mine] - s, cols[mine]]
    for s in range(0, n, chunk):  # pass 2: t2i ranks against the positives of pass 1
        sims, own = block(s)
        t2i_rank += ((sims >= pos[None, :]) & ~own).sum(dim=0)
    return i2t_rank, t2i_rank


# ---- the evaluator plug-in (methods/evals/evaluator.py) ------------------------------------------------------


def run(method, data, cfg, items: dict) -> dict[str, float]:
    from .embed import embed_images, embed_texts

    img, ok = embed_images(method, data.images, cfg)
    require_images(ok, "retrieval images")
    owner = torch.tensor(data.caption_image)
    keep = ok[owner]  # captions of a skipped image leave with it
    remap = torch.cumsum(ok.long(), 0) - 1
    txt = embed_texts(method, [c for c, k in zip(data.captions, keep.tolist()) if k], cfg.batch_size)
    i2t, t2i = retrieval_ranks(img[ok], txt, remap[owner[keep]])
    items |= {"i2t_rank": i2t.numpy(), "t2i_rank": t2i.numpy()}
    return recalls(i2t, t2i) | {"skipped_images": float((~ok).sum())}


def unit(metric: str) -> str:
    return "i2t_rank" if metric.startswith("i2t") else "t2i_rank"


def resample(metric: str, items: dict, weights):
    """R@K: the weighted share of queries whose rank is below K."""
    if not (m := re.fullmatch(r"(i2t|t2i)_r(\d+)", metric)):
        return None
    return percent(weights, items[unit(metric)] < int(m.group(2)))


def _coco(cfg, scenes):
    return datasets.coco_captions(cfg.path("coco_images"), cfg.path("coco_captions"))


def _flickr(cfg, scenes):
    return datasets.flickr30k(cfg.path("flickr_images"), cfg.path("flickr_karpathy"))


def _wds(cfg, scenes):
    from .clip_benchmark import retrieval_set

    return retrieval_set(cfg.path("wds_retrieval_dir"))


EVALUATOR = Evaluator("retrieval", {"scenes": scenesets.retrieval, "coco": _coco, "flickr30k": _flickr, "wds": _wds},
                      run, unit, resample, paths={"coco": ("coco_images", "coco_captions"),
                                                  "flickr30k": ("flickr_images", "flickr_karpathy"),
                                                  "wds": ("wds_retrieval_dir",)})
