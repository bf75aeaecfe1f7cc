"""Caption records and the caption modes a text view can draw from.

A caption record is the DreamLIP layout: {"raw_caption": [sentences], "short_captions": [[sentences], ...],
"long_captions": [[sentences], ...]}; every caption is a list of sentences without final periods. Real
DreamLIP strings are split into sentences on '.', newline and '</s>' by `split_sentences`.
"""

from __future__ import annotations

import random
import re

CAPTION_MODES = ("raw", "random", "short", "long")
_SPLIT = re.compile(r"\.|\n|</s>")


def split_sentences(text: str) -> list[str]:
    """Sentences of a caption string: split on '.', newline and '</s>', stripped, empties dropped."""
    return [s.strip() for s in _SPLIT.split(text) if s.strip()]


def join_sentences(sentences: list[str]) -> str:
    """A caption string from sentences, joined with '. ' as the official text cropping does."""
    return ". ".join(sentences) + "."


def all_captions(record: dict) -> list[list[str]]:
    """Every non-empty caption of a record: raw first, then short, then long."""
    caps = [record.get("raw_caption") or []] + list(record.get("short_captions") or []) + list(
        record.get("long_captions") or [])
    return [c for c in caps if c]


def validate_record(record: dict) -> None:
    """Raise ValueError if a record has no usable caption (counted as a skipped sample by the reader)."""
    if not isinstance(record, dict) or not all_captions(record):
        raise ValueError("sample has no non-empty caption")


def pick_caption(record: dict, mode: str, rng: random.Random) -> str:
    """One caption string for a text view.

    raw: the alt-text. random: one of all captions uniformly. short / long: one of that kind uniformly; a record
    without that kind (plain image-text data) falls back to all its captions.
    """
    if mode == "raw" and record.get("raw_caption"):
        return join_sentences(record["raw_caption"])
    pool = {"short": record.get("short_captions"), "long": record.get("long_captions")}.get(mode) or all_captions(
        record)
    pool = [c for c in pool if c] or all_captions(record)
    return join_sentences(pool[rng.randrange(len(pool))])
