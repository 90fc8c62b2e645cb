"""OCR reference hints, as the official `--ocr` flag adds them to user turns.

The official code runs PaddleOCR and keeps texts with confidence > 0.1, joined by ", ". PaddleOCR
downloads its models at run time; RapidOCR runs the same PP-OCR models from ONNX files shipped in
its wheel, so this works offline.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PIL import Image

MIN_SCORE = 0.1
"""Texts scoring at or below this are dropped (official threshold)."""

REFERENCE_PREFIX = "\nReference OCR Token: "

ENGINE_PARAMS = {
    "Global.log_level": "error",
    "Global.text_score": MIN_SCORE,
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
}
"""PaddleOCR 2.7's detector sizing (downscale to a 960 px long side, never upscale)."""



class OCRError(ValueError):
    """The OCR engine could not read an image (an extreme shape such as 4000x3, or unusable pixels)."""


_engine: Any = None
_lock = threading.Lock()


def get_engine() -> Any:
    """The shared RapidOCR engine, built on first use."""
    global _engine
    with _lock:
        if _engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as err:
                raise ImportError(
                    "OCR needs rapidocr and onnxruntime: pip install 'minigemini[ocr]'"
                ) from err
            _engine = RapidOCR(params=dict(ENGINE_PARAMS))
        return _engine


def ocr_texts(image: Image.Image | str | Path, min_score: float = MIN_SCORE) -> list[str]:
    """Recognised text lines in reading order, keeping those with confidence > `min_score`."""
    if not isinstance(image, Image.Image):
        with Image.open(image) as opened:
            image = opened.convert("RGB")
    engine = get_engine()
    rgb = image.convert("RGB")
    with _lock:
        try:
            result = engine(rgb, text_score=min_score)
        except Exception as err:  # rapidocr/onnxruntime/cv2 raise their own types (ResizeImgError, cv2.error ...)
            w, h = rgb.size
            raise OCRError(f"OCR cannot read this {w}x{h} image ({type(err).__name__}); send it without OCR, or crop it nearer to a square.") from None
    if not result.txts:
        return []
    return [t.strip() for t, s in zip(result.txts, result.scores) if s > min_score and t.strip()]


def format_reference_line(texts: list[str]) -> str:
    """`"\\nReference OCR Token: a, b, c\\n"` (the official CLI's format), or "" for no texts."""
    return f"{REFERENCE_PREFIX}{', '.join(texts)}\n" if texts else ""


def ocr_reference_line(image: Image.Image | str | Path, min_score: float = MIN_SCORE) -> str:
    """The official OCR hint for one image, to append to the user text; "" when nothing is read."""
    return format_reference_line(ocr_texts(image, min_score))
