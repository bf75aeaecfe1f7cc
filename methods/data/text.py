"""Caption records and the caption modes a text view can draw from.

Inside the suite a caption record is {"raw_caption": [sentences], "short_captions": [[sentences], ...],
"long_captions": [[sentences], ...]}: every caption a list of sentences. A record of plain image-text data (`prepare
folder | img2dataset`, img2dataset's own shards) holds its alt-text as written, `"raw_caption": [text]` with
`"verbatim": true`, and a text view gets that text unchanged, as open_clip trains on it (no sentence split, no
period added). `normalise_record` reads the layouts shards come in, natively:
- the suite's own (above; `prepare` and the synthetic benchmark write it);
- DreamLIP / FLAIR, as the official COSMOS shards: `raw_caption`, `shortIB_captions`, `shortSV_captions`,
  `shortLLA_captions`, `longIB_captions`, `longSV_captions`, `longLLA_captions`, each a list of strings (a
  plain string is taken as a one-item list; a long string is split into sentences). Every item becomes one
  caption of its kind, so the flattened sentence pool is the official `captions_list`, in its order;
- PixelProse: `original_caption` (the alt-text, one item) and `caption` (split into sentences on '.', newline
  and '</s>' as the official `split_caption`): pool = [original_caption] + sentences of caption, as the official;
- img2dataset: its `.json` holds the downloaded alt-text as `caption` (beside url, key, status, sizes) and no
  `original_caption`: that `caption` is the raw alt-text, never a recaption.
A record with none of these fields, or with no non-empty caption, is a counted skip in the reader.
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
    """A caption string from sentences, joined with '. ' as the official text cropping does, ending with a
    period unless its last sentence already ends with '.', '!' or '?' (a caption kept whole, as FLAIR's long
    caption sentences are, keeps its own punctuation; split sentences have none)."""
    text = ". ".join(sentences)
    return text if text.endswith((".", "!", "?")) else text + "."


FLAIR_SHORT = ("shortIB_captions", "shortSV_captions", "shortLLA_captions")
FLAIR_LONG = ("longIB_captions", "longSV_captions", "longLLA_captions")
PIXELPROSE = ("original_caption", "caption")
SUITE = ("raw_caption", "short_captions", "long_captions")
KNOWN_FIELDS = SUITE + FLAIR_SHORT + FLAIR_LONG + PIXELPROSE


def _items(value, field: str, split: bool = False) -> list[str]:
    """A field's non-empty strings: a list of strings, or one string (split into sentences if `split`)."""
    if value is None:
        return []
    if isinstance(value, str):
        return split_sentences(value) if split else ([value.strip()] if value.strip() else [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"caption field {field!r} is neither a string nor a list of strings")
    return [v.strip() for v in value if v.strip()]


def normalise_record(record) -> dict:
    """Any supported caption layout (module docstring) -> the suite's record; ValueError if none applies."""
    if not isinstance(record, dict):
        raise ValueError("caption record is not a JSON object")
    if any(f in record for f in FLAIR_SHORT + FLAIR_LONG):  # DreamLIP / FLAIR (official COSMOS shards)
        return {"raw_caption": _items(record.get("raw_caption"), "raw_caption"),
                "short_captions": [[c] for f in FLAIR_SHORT for c in _items(record.get(f), f)],
                "long_captions": [[c] for f in FLAIR_LONG for c in _items(record.get(f), f, split=True)]}
    if "caption" in record and "original_caption" not in record and not any(f in record for f in SUITE):
        return verbatim(record.get("caption"), "caption")  # img2dataset: the alt-text, as written
    if any(f in record for f in PIXELPROSE) and not any(f in record for f in SUITE[1:]):  # PixelProse
        return {"raw_caption": _items(record.get("original_caption"), "original_caption"),
                "short_captions": [], "long_captions": [[c] for c in _items(record.get("caption"), "caption",
                                                                            split=True)]}
    if not any(f in record for f in SUITE):
        raise ValueError(f"no known caption field (expected one of {', '.join(KNOWN_FIELDS)})")
    raw = record.get("raw_caption") or []
    short, long = record.get("short_captions") or [], record.get("long_captions") or []
    for name, caps in (("short_captions", short), ("long_captions", long)):
        if not isinstance(caps, list) or not all(isinstance(c, list) for c in caps):
            raise ValueError(f"caption field {name!r} is not a list of sentence lists")
    out = {"raw_caption": _items(raw, "raw_caption"), "short_captions": [c for c in short if c],
           "long_captions": [c for c in long if c]}
    return out | ({"verbatim": True} if record.get("verbatim") is True and len(out["raw_caption"]) == 1 else {})


def verbatim(text, field: str = "caption") -> dict:
    """The record of one alt-text kept as written (plain image-text data); an empty text gives no caption."""
    if text is not None and not isinstance(text, str):
        raise ValueError(f"caption field {field!r} is not a string")
    return {"raw_caption": [text] if text and text.strip() else [], "short_captions": [], "long_captions": [],
            "verbatim": True}


def has_recaptions(record: dict) -> bool:
    """Whether a (normalised) record has synthetic captions beside its alt-text (what text crops draw from)."""
    return bool(record.get("short_captions") or record.get("long_captions"))


def all_captions(record: dict) -> list[list[str]]:
    """Every non-empty caption of a record: raw first, then short, then long."""
    caps = [record.get("raw_caption") or []] + list(record.get("short_captions") or []) + list(
        record.get("long_captions") or [])
    return [c for c in caps if c]


def validate_record(record: dict) -> None:
    """Raise ValueError if a (normalised) record has no usable caption (a counted skip in the reader)."""
    if not isinstance(record, dict) or not all_captions(record):
        raise ValueError("sample has no non-empty caption")
    if not all(isinstance(x, str) for c in all_captions(record) for x in c):
        raise ValueError("caption sentences must be strings")


def caption_pool(record: dict, mode: str) -> list[str]:
    """The captions a caption mode draws from (the official `sample_dict` pools): raw = the alt-text alone;
    random = every caption; short = the alt-text and the short captions; long = the long captions. A record
    without that kind (plain image-text data) falls back to all its captions."""
    pools = {"raw": [record.get("raw_caption")],
             "short": [record.get("raw_caption")] + list(record.get("short_captions") or []),
             "long": list(record.get("long_captions") or [])}
    pool = [c for c in pools.get(mode, []) if c] or all_captions(record)
    whole = record.get("raw_caption") if record.get("verbatim") else None
    return [c[0] if c is whole else join_sentences(c) for c in pool]


def pick_caption(record: dict, mode: str, rng: random.Random) -> str:
    """One caption string for a text view, uniformly from the mode's `caption_pool`."""
    pool = caption_pool(record, mode)
    return pool[0] if len(pool) == 1 else pool[rng.randrange(len(pool))]
