"""Degenerate models never score: evaluators refuse non-finite embeddings or logits with one line.

A diverged checkpoint (NaN / inf weights) gives NaN embeddings; every comparison with NaN is false, which a
rank-based metric would otherwise read as "nothing outranks the positive" (R@1 = 100). The evaluators call
`require_finite` on what they score, so such a model is an error naming what was non-finite, never a number.
Collapsed (constant) embeddings are finite: they score through the conservative tie rules of each metric
(ties count against the query), i.e. at or below chance.
"""

from __future__ import annotations

import torch

from ..errors import SuiteError


class NonFiniteEmbeddings(SuiteError, ValueError):
    """A model produced NaN/inf embeddings: the evaluation is refused rather than scored."""


def require_finite(x: torch.Tensor, what: str) -> torch.Tensor:
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = bad.reshape(len(x), -1).any(dim=1).sum().item() if x.dim() else 1
        raise NonFiniteEmbeddings(f"{what} are not finite ({rows} of {len(x) if x.dim() else 1} rows hold NaN/inf): "
                                  "the model has diverged; refusing to score it")
    return x
