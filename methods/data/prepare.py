"""Convert local image-text data into the suite's webdataset shards (jpg + DreamLIP-layout caption json).

Sources:
- `folder`: an image folder plus a CSV or JSONL file of (image path relative to the folder, caption) rows;
- `img2dataset`: img2dataset's "files" output (<shard>/<key>.jpg, .webp or .png next to <key>.txt) or its
  webdataset tars (the alt-text from .txt; images of any encode format become jpg);
- `dreamlip`: DreamLIP-style caption records (JSON list or JSONL) with `raw_caption` and any `short*caption(s)` /
  `long*caption(s)` fields (e.g. shortIB_captions, longSV_captions), each split into sentences on '.', newline
  and '</s>'; images are looked up by the record's `image` field under the image folder.
Rows whose image is missing or unreadable, or whose caption is empty, are skipped and counted, never fatal.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import webdataset as wds
from PIL import Image

from ..progress import bar
from .stream import read_all
from .text import all_captions, split_sentences, verbatim

SOURCES = ("folder", "img2dataset", "dreamlip")
# sources whose captions come in a separate file (the "dreamlip" source is the DreamLIP caption-file layout, not
# the method)
CAPTION_FILE_SOURCES = (SOURCES[0], SOURCES[2])


def _clean(text) -> bool:
    """False for text that held bytes that are not UTF-8 (read with surrogateescape)."""
    try:
        str(text).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _records_file(path: Path) -> Iterator[dict | None]:
    """Rows of a captions file; a row that is not valid UTF-8 or not valid JSON comes out as None (a counted
    skip): one bad row never aborts a conversion."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
            for row in csv.DictReader(f):
                yield row if all(_clean(k) and _clean(v) for k, v in row.items()) else None
    elif path.suffix == ".jsonl":
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                if line.strip():
                    try:
                        row = json.loads(line) if _clean(line) else None
                    except json.JSONDecodeError:
                        row = None
                    yield row if isinstance(row, dict) else None
    elif path.suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exn:
            raise ValueError(f"captions file {path} is not valid UTF-8 JSON ({exn}); JSONL skips bad rows") from None
        if not isinstance(rows, list):
            raise ValueError(f"captions file {path} must hold a JSON list of records")
        yield from (r if isinstance(r, dict) else None for r in rows)
    else:
        raise ValueError(f"captions file {path} must be .csv, .jsonl or .json")


def _column(row: dict, col: str, path: Path) -> str:
    if col not in row:
        raise ValueError(f"captions file {path} has no column {col!r} (columns: {', '.join(map(str, row))})")
    return row[col]


def _text(v) -> str | None:
    """A caption cell as written; anything but a string (a number, a list) is no caption (a counted skip)."""
    return v if isinstance(v, str) else None


def _as_list(v) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


def dreamlip_record(row: dict) -> dict:
    """DreamLIP fields -> {"raw_caption": [sentences], "short_captions": [[...]], "long_captions": [[...]]}."""
    out = {"raw_caption": split_sentences(row.get("raw_caption") or ""), "short_captions": [], "long_captions": []}
    for key, value in sorted(row.items()):
        kind = "short" if key.startswith("short") else "long" if key.startswith("long") else None
        if kind and "caption" in key:
            out[f"{kind}_captions"] += [s for s in (split_sentences(c) for c in _as_list(value)) if s]
    return out


def _rows(source: str, src: Path, captions: Path | None, image_col: str, caption_col: str) -> Iterator[tuple]:
    """(key, image bytes or path, caption record) per input row."""
    if source in CAPTION_FILE_SOURCES:
        for i, row in enumerate(_records_file(captions)):
            if row is None:
                yield f"{i:09d}", None, None
            elif source == "folder":
                _column(row, caption_col, captions)
                yield f"{i:09d}", src / str(_column(row, image_col, captions)), verbatim(_text(row.get(caption_col)))
            else:
                yield f"{i:09d}", src / str(_column(row, image_col, captions)), dreamlip_record(row)
    elif source == "img2dataset":
        tars = sorted(src.rglob("*.tar"))
        if tars:
            for s in read_all([str(t) for t in tars]):
                try:
                    record = verbatim(s.get("txt", b"").decode("utf-8"))
                except UnicodeDecodeError:
                    record = None
                yield s["__key__"], next((s[e] for e in IMAGE_EXTS if e in s), None), record
        else:
            for img in sorted(p for p in src.rglob("*") if p.suffix.lstrip(".").lower() in IMAGE_EXTS):
                txt = img.with_suffix(".txt")
                cap = txt.read_text(encoding="utf-8") if txt.exists() else ""
                yield img.stem, img, verbatim(cap)
    else:
        raise ValueError(f"unknown prepare source {source!r}; valid choices: {', '.join(SOURCES)}")


# The image members img2dataset writes (its --output_format webdataset / files, any --encode_format).
IMAGE_EXTS = ("jpg", "jpeg", "webp", "png")


def _jpeg(image) -> bytes:
    data = image.read_bytes() if isinstance(image, Path) else image
    if data is None:
        raise ValueError("no image")
    img = Image.open(io.BytesIO(data))
    if img.format == "JPEG":
        img.verify()
        return data
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def prepare(source: str, src: str | Path, out: str | Path, captions: str | Path | None = None,
            shard_size: int = 1000, image_col: str = "image", caption_col: str = "caption") -> dict:
    """Write out/shard-NNNNNN.tar; returns {"written": n, "skipped": n, "shards": n}."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise FileNotFoundError(f"input {src} does not exist")
    if source in CAPTION_FILE_SOURCES and (captions is None or not Path(captions).exists()):
        raise FileNotFoundError(f"source {source!r} needs a captions file (.csv/.jsonl/.json); got {captions!r}")
    out.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with wds.ShardWriter(str(out / "shard-%06d.tar"), maxcount=shard_size, verbose=0) as sink:
        rows = _rows(source, src, Path(captions) if captions else None, image_col, caption_col)
        for key, image, record in bar(rows, f"prepare {source}", unit="sample"):
            try:
                jpg = _jpeg(image)
                if not record or not all_captions(record):
                    raise ValueError("empty caption")
            except (OSError, ValueError, tarfile.TarError):
                skipped += 1
                continue
            sink.write({"__key__": key, "jpg": jpg, "json": json.dumps(record, sort_keys=True).encode()})
            written += 1
    if not written:  # the writer opened a first shard anyway: an empty tar that training would wait on forever
        for empty in out.glob("shard-*.tar"):
            empty.unlink()
        hint = f" (img2dataset: was it run with --caption_col? this reads the {caption_col!r} column)" \
            if source == "img2dataset" else ""
        raise ValueError(f"prepare {source}: none of {skipped} rows of {src} had a readable image and a caption; "
                         f"no shards written{hint}")
    return {"written": written, "skipped": skipped, "shards": len(list(out.glob("shard-*.tar")))}
