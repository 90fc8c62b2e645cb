"""LLaVA-format training data: lazy JSON/JSONL reading, a fault-tolerant Dataset, and a padding collator.

A row is `{"id", "image": path | [paths] (optional), "conversations": [{"from": "human"|"gpt", "value"}]}`.
Bad rows are skipped with a warning naming file and line, and counted in a `SkipReport`:
malformed JSON lines, rows that do not alternate human/gpt, `<image>` markers that do not match
the images, missing, unreadable, oversized or otherwise unusable images, and samples that cannot be
label-masked exactly. Rows that fail only when loaded (corrupt image, label masking) are replaced by the
next good row, so an epoch never dies; `strict=True` raises on the first bad row instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from ..constants import IGNORE_INDEX, IMAGE_TOKEN
from ..image_processing import ImageLoadError
from ..padding import pad_rows
from ..templates import Template, get_template
from .errors import BadRow
from .labels import tokenize_conversation

log = logging.getLogger(__name__)

ImageProcessor = Callable[[list[Image.Image]], dict[str, torch.Tensor]]


@dataclass
class SkipReport:
    """Skipped rows by reason, the first few `file:line` examples, and how many were substituted.

    Counts are per process: with DataLoader workers each worker counts (and logs) its own.
    """

    max_examples: int = 5
    counts: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    substituted: int = 0

    def add(self, reason: str, where: str, message: str) -> None:
        self.counts[reason] += 1
        line = f"{where}: {reason}: {message}"
        if len(self.examples) < self.max_examples:
            self.examples.append(line)
        log.warning("skipped %s", line)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.total:
            return "no bad samples"
        by_reason = ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items()))
        return f"{self.total} bad samples ({by_reason}); {self.substituted} substituted; e.g.\n  " + "\n  ".join(self.examples)


@dataclass(frozen=True)
class Row:
    source: str
    line: int
    images: tuple[str, ...]
    conversations: list[dict]

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def _iter_json_array(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    decoder, pos, line = json.JSONDecoder(), text.index("[") + 1, 1
    counted = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}:{line}: malformed JSON ({e.msg}); a JSON array cannot skip a broken element, "
                "fix it or convert the file to JSONL"
            ) from None
        yield line, obj


def iter_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line, parsed object or BadRow) for each record of a JSON array or JSONL file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        yield from _iter_json_array(path, text)
        return
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield line, json.loads(raw)
        except json.JSONDecodeError as e:
            yield line, BadRow("malformed_json", e.msg)


def resolve_image(image_root: Path, name: str) -> Path | None:
    """The image file, trying the official fixes (`.jpg`→`.png`, `VG_100K(_2)`→`images`) when it is missing."""
    candidates = [image_root / name]
    if name.lower().endswith(".jpg"):
        candidates.append(image_root / (name[:-4] + ".png"))
    if "VG_100K" in name:
        candidates.append(image_root / re.sub(r"VG_100K(_2)?", "images", name))
    return next((p for p in candidates if p.is_file()), None)


def parse_row(obj: Any, source: str, line: int, image_root: Path, check_images: bool) -> Row:
    """Validate one record; raises `BadRow`."""
    if not isinstance(obj, dict) or not isinstance(obj.get("conversations"), list) or not obj["conversations"]:
        raise BadRow("bad_structure", "expected an object with a non-empty 'conversations' list")
    convs = obj["conversations"]
    if not all(isinstance(t, dict) and isinstance(t.get("from"), str) and isinstance(t.get("value"), str) for t in convs):
        raise BadRow("bad_structure", "every turn needs string 'from' and 'value'")
    speakers = [t["from"] for t in convs if t["from"] != "system" or t is not convs[0]]
    if any(s != ("human" if i % 2 == 0 else "gpt") for i, s in enumerate(speakers)):
        raise BadRow("not_alternating", f"turns must alternate human/gpt starting with human, got {speakers}")
    image = obj.get("image")
    images = [] if image is None else [image] if isinstance(image, str) else image
    if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
        raise BadRow("bad_structure", "'image' must be a path or a list of paths")
    markers = [t["value"].count(IMAGE_TOKEN) for t in convs]
    if sum(m for m, t in zip(markers, convs) if t["from"] != "human"):
        raise BadRow("image_marker_mismatch", f"{IMAGE_TOKEN} markers outside human turns")
    if sum(markers) != len(images):
        raise BadRow("image_marker_mismatch", f"{sum(markers)} {IMAGE_TOKEN} markers for {len(images)} images")
    if check_images:
        missing = [p for p in images if resolve_image(image_root, p) is None]
        if missing:
            raise BadRow("missing_image", f"not found under {image_root}: {missing[0]}")
    return Row(source, line, tuple(images), convs)


def read_rows(path: str | Path, image_root: str | Path, report: SkipReport, *, strict: bool = False, check_images: bool = True) -> list[Row]:
    """All usable rows of a JSON/JSONL file; bad ones are reported (or raised when `strict`)."""
    rows, root = [], Path(image_root)
    for line, obj in iter_records(path):
        try:
            if isinstance(obj, BadRow):
                raise obj
            rows.append(parse_row(obj, str(path), line, root, check_images))
        except BadRow as e:
            if strict:
                raise BadRow(e.reason, f"{path}:{line}: {e.reason}: {e}") from None
            report.add(e.reason, f"{path}:{line}", str(e))
    return rows


def load_image(name: str, image_root: Path, max_pixels: int | None = None) -> Image.Image:
    """The image as RGB, EXIF orientation applied; raises `BadRow` when it is missing, unreadable (pixels
    or metadata) or, before decoding, larger than `max_pixels`."""
    path = resolve_image(image_root, name)
    if path is None:
        raise BadRow("missing_image", f"not found under {image_root}: {name}")
    try:
        with Image.open(path) as im:
            if max_pixels is not None and im.width * im.height > max_pixels:
                raise BadRow("image_too_large", f"{path}: {im.width}x{im.height} is over {max_pixels:,} pixels")
            return ImageOps.exif_transpose(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, BadRow):
            raise
        raise BadRow("corrupt_image", f"{path}: {e}") from None


class LlavaDataset(Dataset):
    """Lazy LLaVA-format dataset; model specifics come in as the image processor, counts and ids.

    Items are `{"input_ids", "labels", **image_processor(images)}`; text-only items have no image keys.
    """

    def __init__(
        self,
        data_path: str | Path,
        image_root: str | Path = ".",
        *,
        tokenizer: Any,
        template: str | Template,
        image_processor: ImageProcessor,
        tokens_per_image: int,
        image_token_id: int,
        max_length: int | None = None,
        strict: bool = False,
        check_images: bool = True,
        max_substitutions: int = 10,
    ):
        self.tokenizer = tokenizer
        self.template = get_template(template, tokenizer) if isinstance(template, str) else template
        self.image_processor = image_processor
        self.tokens_per_image = tokens_per_image
        self.image_token_id = image_token_id
        self.max_length = max_length
        self.strict = strict
        self.max_substitutions = max_substitutions
        self.image_root = Path(image_root)
        self.report = SkipReport()
        self.rows = read_rows(data_path, self.image_root, self.report, strict=strict, check_images=check_images)
        if not self.rows:
            raise ValueError(f"{data_path}: no usable rows; {self.report.summary()}")
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def modality_lengths(self) -> list[int]:
        """Approximate lengths (words + image tokens), positive for image samples, negative for text-only."""
        out = []
        for row in self.rows:
            n = sum(len(t["value"].split()) for t in row.conversations) + self.tokens_per_image * len(row.images)
            out.append(max(1, n) if row.images else -max(1, n))
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        for step in range(self.max_substitutions + 1):
            j = (index + step) % len(self.rows)
            if j in self._bad:
                continue
            row = self.rows[j]
            try:
                item = self._build(row)
            except BadRow as e:
                if self.strict:
                    raise BadRow(e.reason, f"{row.where}: {e.reason}: {e}") from None
                self._bad.add(j)
                self.report.add(e.reason, row.where, str(e))
                continue
            if step:
                self.report.substituted += 1
            return item
        raise RuntimeError(f"{self.max_substitutions + 1} rows in a row are bad from index {index}: {self.report.summary()}")

    def _build(self, row: Row) -> dict[str, torch.Tensor]:
        try:
            tok = tokenize_conversation(
                row.conversations, self.template, self.tokenizer,
                tokens_per_image=self.tokens_per_image, image_token_id=self.image_token_id, max_length=self.max_length,
            )
        except BadRow as e:  # counted apart from the row's own problems
            raise BadRow(f"label_{e.reason}", str(e)) from None
        max_pixels = getattr(self.image_processor, "max_image_pixels", None)
        images = [load_image(name, self.image_root, max_pixels) for name in row.images[: tok.num_images]]
        item = {"input_ids": torch.tensor(tok.input_ids), "labels": torch.tensor(tok.labels)}
        if images:
            try:
                item.update(self.image_processor(images))
            except ImageLoadError as e:
                raise BadRow("unusable_image", str(e)) from None
        return item


@dataclass(frozen=True)
class PaddingCollator:
    """Right-pads `input_ids` (with `pad_token_id`) and `labels` (with -100); concatenates image tensors on dim 0."""

    pad_token_id: int  # the processor's (`MiniGeminiProcessor.pad_token_id`)

    def __call__(self, batch: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = pad_rows([b["input_ids"] for b in batch], self.pad_token_id, side="right")
        labels, _ = pad_rows([b["labels"] for b in batch], IGNORE_INDEX, side="right")
        out = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        image_keys = dict.fromkeys(k for b in batch for k in b if k not in ("input_ids", "labels"))
        for key in image_keys:
            out[key] = torch.cat([b[key] for b in batch if key in b], dim=0)
        return out
