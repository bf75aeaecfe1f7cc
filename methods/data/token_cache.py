"""Text views tokenised with each sentence encoded once (data.view_ops = exact / fast): the same token ids as the
tokenizer's own call, less work.

A COSMOS sample's 8 texts are ". "-joins of sentences drawn, with repeats, from its pool; the tokenizer cleans and
BPE-encodes every joined text in full. Here a text is split on ". ", each piece is encoded once (kept in a bounded
cache) and the ids are joined with the id of ".". That equals encoding the whole text whenever every piece is ASCII
without "&" and starts and ends with a letter or digit: open_clip's cleaning (ftfy, HTML unescaping, whitespace,
lower case) then acts within each piece, and its word pattern ends a token at the piece's last letter or digit and
makes "." a token of its own. Any other piece (punctuation at an edge, non-ASCII, an entity, a trailing ".") sends
the whole text through the tokenizer's own encode. Used only for open_clip's SimpleTokenizer with its default
cleaning ("lower") and no reduction mask; any other tokenizer is called as it is. Tested id for id against the
tokenizer on crafted and random texts (tests/test_fast_views.py).
"""

from __future__ import annotations

import torch
from open_clip.tokenizer import SimpleTokenizer, _clean_lower

SEPARATOR = ". "
CACHE_SIZE = 1 << 16


def _safe(piece: str) -> bool:
    return bool(piece) and piece.isascii() and "&" not in piece and piece[0].isalnum() and piece[-1].isalnum()


class SentenceTokenizer:
    """Callable like the tokenizer it wraps: texts -> (n, context_length) int64 ids."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.enabled = (isinstance(tokenizer, SimpleTokenizer) and tokenizer.clean_fn is _clean_lower
                        and tokenizer.reduction_fn is None)
        if self.enabled:
            self.dot = tokenizer.encode(".")
        self._pieces: dict[str, list[int] | None] = {}

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for k, piece in enumerate(text.split(SEPARATOR)):
            got = self._pieces.get(piece, False)
            if got is False:
                if len(self._pieces) >= CACHE_SIZE:
                    self._pieces.clear()
                got = self._pieces[piece] = self.tokenizer.encode(piece) if _safe(piece) else None
            if got is None:
                return self.tokenizer.encode(text)
            if k:
                ids += self.dot
            ids += got
        return ids

    def __call__(self, texts: list[str]) -> torch.Tensor:
        if not self.enabled:
            return self.tokenizer(texts)
        t = self.tokenizer
        length = t.context_length
        rows = []
        for text in texts:  # open_clip's truncation: the first length - 1 ids, then end-of-text
            ids = [t.sot_token_id, *self.encode(text), t.eot_token_id]
            if len(ids) > length:
                ids = ids[:length - 1] + [t.eot_token_id]
            rows.append(ids + [0] * (length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)
