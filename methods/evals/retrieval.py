"""Zero-shot image-text retrieval: R@K in both directions from global embeddings (CLIP protocol).

An image's i2t rank is the best rank among all its captions; a caption's t2i rank is that of its one image.
Ranks count strictly higher scores (ties, within TIE_EPS, resolve in the query's favour). Similarities are
chunked matrix products, never a Python loop over queries.
"""

from __future__ import annotations

import torch

TIE_EPS = 1e-5


def retrieval_metrics(image_emb: torch.Tensor, text_emb: torch.Tensor, text_to_image: torch.Tensor,
                      ks: tuple[int, ...] = (1, 5, 10), chunk: int = 1024) -> dict[str, float]:
    """image_emb (N, D), text_emb (M, D) normalised; text_to_image (M,) long: the image of each caption.

    Returns {"i2t_r1": %, ..., "t2i_r10": %}.
    """
    n, m = len(image_emb), len(text_emb)
    text_to_image = text_to_image.to(torch.long)
    # score of every caption with its own image (an image's best positive is the max over its captions), plus
    # TIE_EPS: the row-wise dot and the matrix product round differently in the last bit, and a positive must
    # never outrank itself; scores within TIE_EPS count as ties, resolved in the query's favour
    pos = (image_emb[text_to_image] * text_emb).sum(dim=1) + TIE_EPS
    best_pos = torch.full((n,), float("-inf"), dtype=pos.dtype).scatter_reduce(0, text_to_image, pos, "amax")
    i2t_rank = torch.empty(n, dtype=torch.long)
    t2i_rank = torch.zeros(m, dtype=torch.long)
    for s in range(0, n, chunk):  # one pass over the similarity matrix serves both directions
        sims = image_emb[s:s + chunk] @ text_emb.T  # (chunk, M)
        i2t_rank[s:s + chunk] = (sims > best_pos[s:s + chunk, None]).sum(dim=1)
        t2i_rank += (sims > pos[None, :]).sum(dim=0)
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = 100.0 * (i2t_rank < k).float().mean().item()
        out[f"t2i_r{k}"] = 100.0 * (t2i_rank < k).float().mean().item()
    return out
