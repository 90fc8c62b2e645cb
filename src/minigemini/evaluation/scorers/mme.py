"""MME scoring as `eval_tool/calculation.py`: acc and acc+ per subtask, perception and cognition sums."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

PERCEPTION_SUBTASKS = (
    "existence", "count", "position", "color", "posters",
    "celebrity", "scene", "landmark", "artwork", "OCR",
)
COGNITION_SUBTASKS = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")


def parse_yes_no(prediction: str) -> str:
    """'yes', 'no' or 'other': an exact answer, else the first 4 characters decide (yes before no)."""
    text = prediction.lower()
    if text in ("yes", "no"):
        return text
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


@dataclass(frozen=True)
class MMEAnswer:
    subtask: str
    image: str
    gt: str
    prediction: str


def mme_scores(answers: list[MMEAnswer]) -> dict[str, dict[str, float]]:
    """Per subtask: acc, acc_plus and score (= acc + acc_plus, in percent); plus 'perception'/'cognition' totals."""
    unknown = {a.subtask for a in answers} - set(PERCEPTION_SUBTASKS) - set(COGNITION_SUBTASKS)
    if unknown:
        raise ValueError(f"unknown MME subtasks {sorted(unknown)}; expected folders named like {PERCEPTION_SUBTASKS[:3]}")
    by_subtask: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for a in answers:
        by_subtask[a.subtask][a.image].append(parse_yes_no(a.prediction) == a.gt.lower())
    results: dict[str, dict[str, float]] = {}
    for subtask, images in by_subtask.items():
        flags = [flag for per_image in images.values() for flag in per_image]
        acc = 100.0 * sum(flags) / len(flags)
        acc_plus = 100.0 * sum(all(per_image) for per_image in images.values()) / len(images)
        results[subtask] = {"acc": acc, "acc_plus": acc_plus, "score": acc + acc_plus}
    results["perception"] = {"score": sum(results[s]["score"] for s in PERCEPTION_SUBTASKS if s in results)}
    results["cognition"] = {"score": sum(results[s]["score"] for s in COGNITION_SUBTASKS if s in results)}
    return results
