"""MMBench: answer-letter extraction (the official heuristics) and single-pass / CircularEval accuracy."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

CIRCULAR_STRIDE = 1_000_000
SEPARATORS = ".()[],:;!*#{}"
REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)


def _letter_from_tokens(answer: str, letters: list[str]) -> str | None:
    if any(refusal in answer for refusal in REFUSALS):
        return "Z"
    text = answer
    for char in SEPARATORS:
        text = text.replace(char, " ")
    tokens = text.split()
    found = [letter for letter in letters if letter in tokens]
    if len(found) == 1:
        return found[0]
    if not found and "Z" in tokens:
        return "Z"
    return None


def _letter_from_option_text(answer: str, options: dict[str, str]) -> str | None:
    lowered = answer.lower()
    hits = [letter for letter, text in options.items() if str(text).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def extract_choice(answer: str, options: dict[str, str]) -> str | None:
    """The letter a reply picks: a lone option letter, else a lone option text it contains; None if unclear."""
    return _letter_from_tokens(answer, list(options)) or _letter_from_option_text(answer, options)


@dataclass(frozen=True)
class MMBenchAnswer:
    index: int
    category: str
    gt: str
    prediction: str
    options: dict[str, str]


def _accuracy(flags: list[bool]) -> float:
    return 100.0 * sum(flags) / len(flags) if flags else 0.0


def mmbench_scores(answers: list[MMBenchAnswer]) -> tuple[dict[str, float], dict[str, dict[str, float]], int]:
    """(overall, per-category, unparsed count). Single pass uses the first pass (index < 1e6);
    circular counts a question right only if every rotation (same index mod 1e6) is right."""
    groups: dict[int, list[bool]] = defaultdict(list)
    group_category: dict[int, str] = {}
    single: dict[int, bool] = {}
    unparsed = 0
    for a in answers:
        choice = extract_choice(a.prediction, a.options)
        unparsed += choice is None
        right = choice == a.gt
        base = a.index % CIRCULAR_STRIDE
        groups[base].append(right)
        group_category[base] = a.category
        if a.index < CIRCULAR_STRIDE:
            single[base] = right
    circular = {base: all(flags) for base, flags in groups.items()}
    overall = {"circular": _accuracy(list(circular.values())), "single_pass": _accuracy(list(single.values()))}
    categories: dict[str, dict[str, float]] = {}
    for category in sorted(set(group_category.values())):
        bases = [b for b, c in group_category.items() if c == category]
        categories[category] = {
            "circular": _accuracy([circular[b] for b in bases]),
            "single_pass": _accuracy([single[b] for b in bases if b in single]),
        }
    return overall, categories, unparsed
