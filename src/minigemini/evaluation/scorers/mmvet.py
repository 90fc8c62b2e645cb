"""MM-Vet: a judge grades each answer 0.0..1.0 with the official few-shot table prompt.

The prompt keeps the official structure (instructions on <AND>/<OR>, a `Question | Ground truth |
Prediction | Correctness` table of graded examples, then the item with its last cell empty); the
example rows are our own. As officially, an unparsable grade is retried with temperature raised by
0.5, up to 5 tries, then scored 0.0.
"""

from __future__ import annotations

from ..judge import Judge

GRADER_INSTRUCTIONS = (
    "Compare the ground truth and the prediction from an AI model and give the prediction a correctness score. "
    "<AND> in the ground truth means the prediction is fully right only if it contains every element; "
    "<OR> means it is fully right if it contains any one element. "
    "The correctness score is one of 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, "
    "or 1.0 (totally right). Only fill in the last cell: the correctness score."
)
GRADED_EXAMPLES = [
    ("How many apples are on the plate?", "3", "There are three apples.", "1.0"),
    ("What is y in the equation?", "2 <AND> -4", "y = 2", "0.5"),
    ("What is y in the equation?", "2 <AND> -4", "y = 2 or y = -4", "1.0"),
    ("What is y in the equation?", "2 <AND> -4", "y = 7", "0.0"),
    ("Which city is shown?", "Paris <OR> Paris, France", "This is Paris.", "1.0"),
    ("What does the sign say?", "no parking", "The sign says parking.", "0.0"),
    (
        "Why might the man be smiling?",
        "he won the race and is celebrating",
        "He is celebrating with his team.",
        "0.6",
    ),
]
MAX_TRIES = 5
TEMPERATURE_STEP = 0.5


def grader_prompt(question: str, ground_truth: str, prediction: str) -> str:
    rows = ["Question | Ground truth | Prediction | Correctness", "--- | --- | --- | ---"]
    rows += [" | ".join(example) for example in GRADED_EXAMPLES]
    gt = ground_truth.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    rows.append(f"{question} | {gt} | {prediction} | ")
    return GRADER_INSTRUCTIONS + "\n\n" + "\n".join(rows)


def parse_grade(reply: str) -> float | None:
    """The first word of the reply as a score in [0, 1], or None."""
    words = reply.strip().split(" ")
    try:
        score = float(words[0].strip())
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


def grade(question: str, ground_truth: str, prediction: str, judge: Judge) -> float | None:
    """A 0..1 grade; 0.0 after 5 unparsable replies; None when the judge could not be reached."""
    prompt = grader_prompt(question, ground_truth, prediction)
    for attempt in range(MAX_TRIES):
        reply = judge.complete(prompt, temperature=attempt * TEMPERATURE_STEP, max_tokens=3)
        if reply is None:
            return None
        score = parse_grade(reply)
        if score is not None:
            return score
    return 0.0
