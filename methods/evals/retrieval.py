"""Zero-shot image-text retrieval: R@K in both directions from global embeddings (CLIP protocol).

An image's i2t rank is the best rank among all its captions; a caption's t2i rank is that of its one image.
Ranks count strictly higher scores (ties resolve in the query's favour). Similarities are chunked matrix
products, never a Python loop over queries.
"""

from __future__ import annotations

import torch


def retrieval_metrics(image_emb: torch.Tensor, text_emb: torch.Tensor, text_to_image: torch.Tensor,
                      ks: tuple[int, ...] = (1, 5, 10), chunk: int = 1024) -> dict[str, float]:
    """image_emb (N, D), text_emb (M, D) normalised; text_to_image (M,) long: the image of each caption.

    Returns {"i2t_r1": %, ..., "t2i_r10": %}.
    """
    n, m = len(image_emb), len(text_emb)
    text_to_image = text_to_image.to(torch.long)
    own = torch.zeros(n, m, dtype=torch.bool)
    own[text_to_image, torch.arange(m)] = True
    i2t_rank = torch.empty(n, dtype=torch.long)
    t2i_rank = torch.empty(m, dtype=torch.long)
    for s in range(0, n, chunk):  # images as queries
        sims = image_emb[s:s + chunk] @ text_emb.T
        best_pos = sims.masked_fill(~own[s:s + chunk], float("-inf")).max(dim=1, keepdim=True).values
        i2t_rank[s:s + chunk] = (sims > best_pos).sum(dim=1)
    for s in range(0, m, chunk):  # captions as queries
        sims = text_emb[s:s + chunk] @ image_emb.T
        pos = sims.gather(1, text_to_image[s:s + chunk, None])
        t2i_rank[s:s + chunk] = (sims > pos).sum(dim=1)
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = 100.0 * (i2t_rank < k).float().mean().item()
        out[f"t2i_r{k}"] = 100.0 * (t2i_rank < k).float().mean().item()
    return out
