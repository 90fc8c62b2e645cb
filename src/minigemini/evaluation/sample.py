"""A benchmark item ready to ask (`Sample`) and what scoring returns (`BenchmarkScore`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from .judge import Judge
from .predictor import Decoding


@dataclass
class Sample:
    """One question: its stable id, the prompt text, a lazy image loader, decoding, and scoring facts."""

    id: str
    prompt: str
    load_images: Callable[[], list[Image.Image]]
    decoding: Decoding
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoreContext:
    """What a scorer may need beyond predictions: a judge and a folder for submission files."""

    out_dir: Path
    judge: Judge | None = None


@dataclass
class BenchmarkScore:
    """Headline metrics, per-category metrics, counts, and any files written for official servers."""

    metrics: dict[str, float]
    categories: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
