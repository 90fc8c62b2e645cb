"""What every benchmark module provides: prompt styles per protocol, a loader, a scorer, an answer-row matcher, a preparer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext

PROTOCOLS = ("official", "lmms-eval")
OWN_SHAPE = ("question_id", "text")  # our rows, and every LLaVA/MGM `model_vqa*` row
AnswerRows = list[tuple[int, dict]]  # (line number, row) as `read_answer_rows` returns them
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


def answer_field(number: int, row: dict, key: str) -> Any:
    """`row[key]`, or an error naming the answer-file line that lacks it."""
    if key not in row:
        raise ValueError(f"answer row at line {number} lacks {key!r}; is this a predictions file for this benchmark?")
    return row[key]


def match_by_id(
    samples: list[Sample], rows: AnswerRows, data_dir: Path, shapes: tuple[tuple[str, str], ...] = (OWN_SHAPE,)
) -> dict[str, str]:
    """Sample id -> answer text, from rows holding one of the (id key, text key) `shapes`; a later row wins."""
    found: dict[str, str] = {}
    for number, row in rows:
        shape = next(((i, t) for i, t in shapes if i in row and t in row), None)
        if shape is None:
            wanted = " or ".join(f"{i!r}+{t!r}" for i, t in shapes)
            raise ValueError(f"answer row at line {number} has no {wanted}; is this a predictions file for this benchmark?")
        found[str(row[shape[0]])] = str(row[shape[1]])
    return found


def split_own_rows(samples: list[Sample], rows: AnswerRows) -> tuple[dict[str, str], AnswerRows]:
    """Rows whose `question_id` is one of our sample ids (files we wrote), as id -> text; and all other rows."""
    ids = {s.id for s in samples}
    own: dict[str, str] = {}
    others: AnswerRows = []
    for number, row in rows:
        if str(row.get("question_id")) in ids:
            own[str(row["question_id"])] = str(answer_field(number, row, "text"))
        else:
            others.append((number, row))
    return own, others


Matcher = Callable[[list[Sample], AnswerRows, Path], dict[str, str]]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: its local layout loader, scorer, answer-row matcher and hub-to-layout converter.

    `match` pairs answer-file rows (ours and the official scripts' shapes) with sample ids;
    `load_for_scoring` (default: `load`) reads only what scoring needs."""

    name: str
    styles: dict[str, PromptStyle]
    load: Callable[[Path, PromptStyle], list[Sample]]
    score: Callable[[list[Sample], dict[str, str], ScoreContext], BenchmarkScore]
    prepare: Callable[[Path, Path], Path]
    needs_judge: bool = False
    match: Matcher = match_by_id
    load_for_scoring: Callable[[Path, PromptStyle], list[Sample]] | None = None

    def style(self, protocol: str) -> PromptStyle:
        if protocol not in self.styles:
            raise ValueError(f"unknown protocol {protocol!r} for {self.name}; choose one of {sorted(self.styles)}")
        return self.styles[protocol]


def read_json(path: Path, purpose: str) -> Any:
    """Parse a benchmark file; when it is missing, the error says what it is needed for."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found (needed for {purpose}); see docs/evaluation.md for the layout, or run `eval prepare`"
        )
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
