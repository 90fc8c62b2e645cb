"""Image helpers shared by the benchmark layouts: lazy file loaders and base64 decoding."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Callable

from PIL import Image


def open_rgb(path: Path) -> Image.Image:
    """Open an image file as RGB, with an error that names the missing file."""
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path} (check the benchmark folder layout in docs/evaluation.md)")
    with Image.open(path) as image:
        return image.convert("RGB")


def file_loader(*paths: Path) -> Callable[[], list[Image.Image]]:
    """A loader that opens the given files when called."""
    return lambda: [open_rgb(p) for p in paths]


def base64_loader(encoded: str) -> Callable[[], list[Image.Image]]:
    """A loader that decodes one base64 image (MMBench tsv style) when called."""
    return lambda: [Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB")]


def bytes_loader(*blobs: bytes) -> Callable[[], list[Image.Image]]:
    """A loader that decodes encoded image bytes (parquet image columns) when called."""
    return lambda: [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]
