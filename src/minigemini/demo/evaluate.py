"""Scoring a trained model on the synthetic test split: batched greedy answers, exact match, latency."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..answering import Answerer, user_turn


@dataclass
class EvalResult:
    accuracy: float
    per_task: dict[str, float]
    n: int
    seconds_per_image: float
    visual_tokens: int
    predictions: list[dict] = field(default_factory=list)


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and surrounding whitespace ("Top left." == "top left")."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def answer_questions(model, processor, items: list[tuple[object, str]], *, batch_size: int = 32,
                     max_new_tokens: int = 8, progress: bool = False) -> list[str]:
    """Greedy answers for (image or None, question) pairs, batched with left padding."""
    answerer = Answerer(model, processor)
    answers: list[str] = []
    batches = range(0, len(items), batch_size)
    for start in tqdm(batches, desc="answering", disable=not progress, leave=False):
        chunk = items[start : start + batch_size]
        answers += answerer.answer([[user_turn(q, int(img is not None))] for img, q in chunk],
                                   [[] if img is None else [img] for img, _ in chunk], max_new_tokens=max_new_tokens)
    return answers


def evaluate_split(model, processor, split_json: Path, image_folder: Path, *, limit: int | None = None,
                   batch_size: int = 32, progress: bool = False) -> EvalResult:
    """Exact-match accuracy (after `normalize`) over a LLaVA-format split whose rows carry "task"."""
    rows = json.loads(Path(split_json).read_text())[:limit]
    items = []
    for row in rows:
        question = row["conversations"][0]["value"].replace("<image>", "").strip()
        items.append((str(image_folder / row["image"]), question))
    start = time.perf_counter()
    answers = answer_questions(model, processor, items, batch_size=batch_size, progress=progress)
    elapsed = time.perf_counter() - start
    per_task: dict[str, list[bool]] = defaultdict(list)
    predictions = []
    for row, (_, question), answer in zip(rows, items, answers):
        gold = row["conversations"][1]["value"]
        correct = normalize(answer) == normalize(gold)
        per_task[row.get("task", "all")].append(correct)
        predictions.append({"id": row["id"], "task": row.get("task"), "question": question, "gold": gold,
                            "answer": answer, "correct": correct})
    hits = [p["correct"] for p in predictions]
    return EvalResult(
        accuracy=sum(hits) / max(len(hits), 1),
        per_task={t: sum(v) / len(v) for t, v in sorted(per_task.items())},
        n=len(hits),
        seconds_per_image=elapsed / max(len(hits), 1),
        visual_tokens=model.config.image_seq_length,
        predictions=predictions,
    )
