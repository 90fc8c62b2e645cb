"""The predictions file: LLaVA answer-file JSONL rows, appended and flushed per batch.

A run killed mid-write can leave a truncated last line; reading ignores it and the writer cuts it
off before appending, so a rerun resumes cleanly. A last row written whole but without its newline
counts as done, so the writer ends it with a newline instead of cutting it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO


def read_answer_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) for every JSON line, in file order, whatever its keys (official answer files vary).

    A truncated final line is ignored, a broken earlier line is an error."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    rows: list[tuple[int, dict]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # unterminated tail from a killed run
                break
            raise ValueError(f"{path}:{number} is not valid JSON ({error}); fix or delete that line") from error
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number} is not a JSON object; is this a predictions file?")
        rows.append((number, row))
    return rows


def read_answers(path: Path) -> dict[str, dict]:
    """Rows keyed by `question_id` (our own answer files); see `read_answer_rows` for the tail rule."""
    answers: dict[str, dict] = {}
    for number, row in read_answer_rows(path):
        if "question_id" not in row or "text" not in row:
            raise ValueError(f"{path}:{number} lacks 'question_id' or 'text'; is this a predictions file?")
        answers[str(row["question_id"])] = row
    return answers


def repair_tail(path: Path) -> None:
    """Make the file end at a row boundary: a complete last row missing its newline gets one, a partial
    row left by a killed run is cut off (the same rule as reading, so no row is lost or duplicated)."""
    if not path.exists():
        return
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep == len(data):
        return
    try:
        complete = isinstance(json.loads(data[keep:]), dict)
    except ValueError:
        complete = False
    with path.open("r+b") as handle:
        if complete:
            handle.seek(0, os.SEEK_END)
            handle.write(b"\n")
        else:
            handle.truncate(keep)


class AnswerWriter:
    """Appends answer rows and makes each batch durable before the next starts."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: TextIO | None = None

    def __enter__(self) -> "AnswerWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def write_batch(self, rows: list[dict]) -> None:
        assert self._handle is not None, "use AnswerWriter as a context manager"
        self._handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def __exit__(self, *exc_info) -> None:
        if self._handle is not None:
            self._handle.close()
