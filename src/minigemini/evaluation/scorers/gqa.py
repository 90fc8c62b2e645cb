"""GQA exact-match accuracy, with LLaVA's conversion step (strip, drop trailing periods, lowercase)."""

from __future__ import annotations


def normalize_gqa_answer(answer: str) -> str:
    return answer.strip().rstrip(".").lower()


def gqa_correct(prediction: str, answer: str) -> bool:
    """True when the normalised prediction equals the normalised ground truth."""
    return normalize_gqa_answer(prediction) == normalize_gqa_answer(answer)
