"""What every benchmark module provides: prompt styles per protocol, a loader, a scorer, a preparer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext

PROTOCOLS = ("official", "lmms-eval")
SHORT_ANSWER = "Answer the question using a single word or phrase."
LETTER_ANSWER = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class PromptStyle:
    """How one protocol asks a benchmark's questions."""

    protocol: str
    description: str
    decoding: Decoding
    ocr: bool | None = None

    def describe(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.protocol, "prompt": self.description, "decoding": self.decoding.as_dict()}
        if self.ocr is not None:
            record["ocr"] = self.ocr
        return record


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: its local layout loader, scorer and hub-to-layout converter."""

    name: str
    styles: dict[str, PromptStyle]
    load: Callable[[Path, PromptStyle], list[Sample]]
    score: Callable[[list[Sample], dict[str, str], ScoreContext], BenchmarkScore]
    prepare: Callable[[Path, Path], Path]
    needs_judge: bool = False

    def style(self, protocol: str) -> PromptStyle:
        if protocol not in self.styles:
            raise ValueError(f"unknown protocol {protocol!r} for {self.name}; choose one of {sorted(self.styles)}")
        return self.styles[protocol]


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; see docs/evaluation.md for the expected layout, or run `eval prepare`")
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def percent(values: list[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0


def predictions_for(samples: list[Sample], predictions: dict[str, str]) -> list[tuple[Sample, str]]:
    """Pair samples with predictions, naming the first missing id when some are absent."""
    missing = [s.id for s in samples if s.id not in predictions]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(samples)} samples have no prediction (first: {missing[0]!r}); "
            "finish the run (it resumes) or score the matching benchmark folder"
        )
    return [(s, predictions[s.id]) for s in samples]
