"""MathVista: judge-based answer extraction, then the official `calculate_score.py` normalisation.

Extraction follows `extract_answer.py`: cheap exact cases first, then a few-shot prompt asking a
judge LLM to pull the final answer out of the reply. The demos below are our own, in the official
format (hint and question, model response, extracted answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..judge import Judge

EXTRACTION_DEMOS = """\
Read the examples below. Then pull the final answer out of the last model response and write it after "Extracted answer:".

Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.
Question: How many red cubes are left after removing the small ones?

Model response: There are 7 cubes, 3 of them small, so 4 red cubes remain.

Extracted answer: 4

Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.
Question: What is the length of the longest bar in the chart?

Model response: The longest bar reaches just past the 12 mark, at 12.5.

Extracted answer: 12.5

Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.
Question: What fraction of the circle is shaded?

Model response: Three of the eight equal slices are shaded, which is 0.375, or 0.38 rounded.

Extracted answer: 0.38

Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
Question: Which angle is the largest?
Choices:
(A) angle P
(B) angle Q
(C) angle R

Model response: Angle R faces the longest side, so the answer is (C).

Extracted answer: C

Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.
Question: List the heights of the three towers from left to right.

Model response: Reading the labels, the towers are 3, 8 and 5 meters tall.

Extracted answer: [3, 8, 5]"""


def extraction_prompt(query: str, response: str) -> str:
    """Few-shot demos, then the test item as the official `create_test_prompt` lays it out."""
    return f"{EXTRACTION_DEMOS.strip()}\n\n{query}\n\n{response}\n\nExtracted answer: "


@dataclass(frozen=True)
class MathVistaProblem:
    query: str
    question_type: str  # "multi_choice" or "free_form"
    answer_type: str  # "text", "integer", "float" or "list"
    choices: list[str] | None
    precision: int | None
    answer: str


def quick_extraction(response: str, problem: MathVistaProblem) -> str | None:
    """The cases the official extractor settles without a judge; None when the judge is needed."""
    if response == "":
        return ""
    if problem.question_type == "multi_choice" and problem.choices and response in problem.choices:
        return response
    if problem.answer_type == "integer":
        try:
            return str(int(response))
        except ValueError:
            pass
    if problem.answer_type == "float":
        try:
            return str(float(response))
        except ValueError:
            pass
    return None


def extract_answer(response: str, problem: MathVistaProblem, judge: Judge) -> tuple[str, bool]:
    """(extraction, judge_failed). A failed judge call yields '' as in the official script."""
    quick = quick_extraction(response, problem)
    if quick is not None:
        return quick, False
    reply = judge.complete(extraction_prompt(problem.query, response), max_tokens=256)
    if reply is None:
        return "", True
    return reply.strip(), False


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def most_similar_choice(text: str, choices: list[str]) -> str:
    distances = [levenshtein(text, choice) for choice in choices]
    return choices[distances.index(min(distances))]


def normalize_extraction(extraction: str, problem: MathVistaProblem) -> str | None:
    """Map an extraction to the answer's form: choice text, int string, rounded float string, or list string."""
    if problem.question_type == "multi_choice":
        if not problem.choices:
            raise ValueError("a multi_choice MathVista problem needs its 'choices'")
        text = extraction.strip()
        letter = re.findall(r"\(([a-zA-Z])\)", text)
        if letter:
            text = letter[0].upper()
        letters = [chr(ord("A") + i) for i in range(len(problem.choices))]
        if text in letters:
            return problem.choices[letters.index(text)]
        return most_similar_choice(text, problem.choices)
    try:
        if problem.answer_type == "integer":
            return str(int(float(extraction)))
        if problem.answer_type == "float":
            return str(round(float(extraction), int(problem.precision or 0)))
    except ValueError:
        return None
    return str(extraction)


def mathvista_correct(extraction: str, problem: MathVistaProblem) -> bool:
    return normalize_extraction(extraction, problem) == problem.answer
