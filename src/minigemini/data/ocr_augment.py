"""Append OCR reference tokens to the human turns of a LLaVA dataset (paper appendix A).

Each row with images gets, per image, the official `"\\nReference OCR Token: a, b\\n"` line after
its human turns. OCR results are cached in an append-only `OUT.ocr-cache.jsonl`, so an
interrupted run resumes without re-reading images; the output file is replaced atomically.
An image that cannot be used (missing, undecodable, over `MAX_PIXELS`, or one the OCR engine fails
on, such as 4000x3) leaves its row unchanged and is counted under its reason; it never stops the run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Literal

from PIL import Image
from tqdm import tqdm

from ..files import write_text_atomic
from ..ocr import MIN_SCORE, OCRError, format_reference_line, ocr_texts
from .llava import iter_records, resolve_image

OcrFn = Callable[[Image.Image, float], list[str]]  # raises OCRError for an image it cannot read
Turns = Literal["all", "first"]
MARKER = "Reference OCR Token:"
MAX_PIXELS = 64_000_000
"""Images larger than this are not decoded (the image processor's decompression-bomb guard)."""


class OcrCache:
    """Append-only JSONL of `{"key", "texts"}`; a torn last line (from a kill) is dropped."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, list[str]] = {}
        if path.exists():
            raw = path.read_bytes()
            complete = raw[: raw.rfind(b"\n") + 1]
            if len(complete) != len(raw):
                path.write_bytes(complete)
            for line in complete.decode("utf-8").splitlines():
                entry = json.loads(line)
                self.entries[entry["key"]] = entry["texts"]

    def get(self, key: str) -> list[str] | None:
        return self.entries.get(key)

    def put(self, key: str, texts: list[str]) -> None:
        self.entries[key] = texts
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "texts": texts}, ensure_ascii=False) + "\n")


def _image_texts(name: str, image_root: Path, min_score: float, cache: OcrCache, ocr: OcrFn) -> list[str] | str:
    """OCR texts of one image, or the failure reason (`missing_image`, `unreadable_image`,
    `image_too_large`, `ocr_failed`)."""
    key = f"{min_score}|{name}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    path = resolve_image(image_root, name)
    if path is None:
        return "missing_image"
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                return "image_too_large"
            rgb = img.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):  # bad data, oversized text chunks
        return "unreadable_image"
    try:
        texts = ocr(rgb, min_score)
    except OCRError:
        return "ocr_failed"
    cache.put(key, texts)
    return texts


def augment_row(
    row: Any, image_root: Path, turns: Turns, min_score: float, cache: OcrCache, ocr: OcrFn
) -> tuple[Any, str]:
    """The row with OCR lines added (or unchanged) and the outcome it is counted under."""
    if not isinstance(row, dict) or not isinstance(row.get("conversations"), list):
        return row, "bad_row"
    images = row.get("image")
    if not images:
        return row, "no_image"
    humans = [t for t in row["conversations"] if isinstance(t, dict) and t.get("from") == "human"]
    if any(MARKER in str(t.get("value", "")) for t in humans):
        return row, "already_augmented"
    lines = ""
    for name in [images] if isinstance(images, str) else images:
        texts = _image_texts(str(name), image_root, min_score, cache, ocr)
        if isinstance(texts, str):
            return row, texts
        lines += format_reference_line(texts)
    if not lines:
        return row, "no_text"
    targets = {id(t) for t in (humans if turns == "all" else humans[:1])}
    conversations = [
        {**t, "value": t["value"] + lines} if id(t) in targets else t for t in row["conversations"]
    ]
    return {**row, "conversations": conversations}, "augmented"


def _write_atomic(path: Path, rows: list[Any]) -> None:
    if path.suffix == ".jsonl":
        write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    else:
        write_text_atomic(path, json.dumps(rows, ensure_ascii=False, indent=1))


def ocr_augment(
    source: str | Path,
    output: str | Path,
    image_root: str | Path,
    *,
    turns: Turns = "all",
    min_score: float = MIN_SCORE,
    ocr: OcrFn = ocr_texts,
    progress: bool = True,
) -> Counter:
    """Write `output` (JSON, or JSONL by suffix) with OCR lines added; returns counts by outcome.

    Every input row is kept; rows without images, without text, or already augmented pass
    through unchanged. `turns="first"` augments only the first human turn.
    """
    source, output, image_root = Path(source), Path(output), Path(image_root)
    if turns not in ("all", "first"):
        raise ValueError(f"turns must be 'all' or 'first', not {turns!r}")
    if not image_root.is_dir():
        raise FileNotFoundError(f"Image root {image_root} is not a folder; pass --image-root DIR.")
    if output.resolve() == source.resolve():
        raise ValueError("Output would overwrite the input; choose another output file.")
    output.parent.mkdir(parents=True, exist_ok=True)
    cache = OcrCache(output.with_name(output.name + ".ocr-cache.jsonl"))
    counts: Counter = Counter()
    rows = []
    for line, obj in tqdm(list(iter_records(source)), desc="ocr-augment", unit="row", disable=not progress):
        if isinstance(obj, Exception):
            raise ValueError(f"{source}:{line}: malformed JSON ({obj}); fix or remove that line.")
        row, outcome = augment_row(obj, image_root, turns, min_score, cache, ocr)
        counts[outcome] += 1
        rows.append(row)
    _write_atomic(output, rows)
    return counts
