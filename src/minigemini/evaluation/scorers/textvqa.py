"""TextVQA accuracy as the M4C `TextVQAAccuracyEvaluator` computes it."""

from __future__ import annotations

from .vqa_answer import normalize_vqa_answer


def answer_scores(gt_answers: list[str]) -> dict[str, float]:
    """Score of each distinct normalised answer: mean over the 10 leave-one-out subsets of min(1, matches/3)."""
    if len(gt_answers) != 10:
        raise ValueError(f"TextVQA needs 10 human answers per question, got {len(gt_answers)}")
    answers = [normalize_vqa_answer(a) for a in gt_answers]
    scores = {}
    for candidate in set(answers):
        subset_scores = []
        for left_out in range(len(answers)):
            matches = sum(1 for i, a in enumerate(answers) if i != left_out and a == candidate)
            subset_scores.append(min(1.0, matches / 3))
        scores[candidate] = sum(subset_scores) / len(subset_scores)
    return scores


def textvqa_accuracy(prediction: str, gt_answers: list[str]) -> float:
    """VQA accuracy (0..1) of one prediction."""
    return answer_scores(gt_answers).get(normalize_vqa_answer(prediction), 0.0)
