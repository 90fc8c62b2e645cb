"""MMMU answer parsing and evaluation, equal to the official `eval_utils.py`.

The official run seeds Python's `random` with 42 once and then parses samples in order, drawing a
random letter whenever a multiple-choice reply names none. Pass one `random.Random(42)` through the
samples in data order to get the same draws.
"""

from __future__ import annotations

import random
import re

PUNCTUATION_TO_TRIM = [",", ".", "!", "?", ";", ":", "'"]
KEY_INDICATORS = ["could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result "]
NUMBER_WITH_COMMAS = r"-?\b\d{1,3}(?:,\d{3})+\b"
NUMBER_SCIENTIFIC = r"-?\d+(?:\.\d+)?[eE][+-]?\d+"
NUMBER_SIMPLE = r"-?(?:\d+\.\d+|\.\d+|\d+)(?![eE][+-]?\d+)(?![,\d])"
OFFICIAL_SEED = 42

DOMAIN_SUBJECTS = {
    "Art and Design": ["Art", "Art_Theory", "Design", "Music"],
    "Business": ["Accounting", "Economics", "Finance", "Manage", "Marketing"],
    "Science": ["Biology", "Chemistry", "Geography", "Math", "Physics"],
    "Health and Medicine": [
        "Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy", "Public_Health",
    ],
    "Humanities and Social Science": ["History", "Literature", "Sociology", "Psychology"],
    "Tech and Engineering": [
        "Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
        "Energy_and_Power", "Materials", "Mechanical_Engineering",
    ],
}


def parse_multi_choice_response(response: str, all_choices: list[str], index2ans: dict[str, str], rng: random.Random) -> str:
    """The chosen letter: '(X)' first, then ' X ', then option text in long replies, the last mention winning."""
    for char in PUNCTUATION_TO_TRIM:
        response = response.strip(char)
    response = " " + response + " "
    index_ans = True
    ans_with_brack = False
    candidates = [c for c in all_choices if f"({c})" in response]
    if candidates:
        ans_with_brack = True
    else:
        candidates = [c for c in all_choices if f" {c} " in response]
    if not candidates and len(response.split()) > 5:
        candidates = [i for i, ans in index2ans.items() if ans.lower() in response.lower()]
        index_ans = not candidates
    if not candidates:
        return rng.choice(all_choices)
    if len(candidates) == 1:
        return candidates[0]
    if index_ans:
        pattern = "({})" if ans_with_brack else " {} "
        positions = [response.rfind(pattern.format(c)) for c in candidates]
    else:
        positions = [response.lower().rfind(index2ans[c].lower()) for c in candidates]
    return candidates[positions.index(max(positions))]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def normalize_str(text: str) -> list[str | float]:
    """Numbers become floats rounded to 2 places; strings are lowercased (single letters padded with spaces)."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    return re.findall(NUMBER_WITH_COMMAS, text) + re.findall(NUMBER_SCIENTIFIC, text) + re.findall(NUMBER_SIMPLE, text)


def _key_subresponses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    # Kept as official: the split looks for capitals after lowercasing, so only newlines split.
    sub_responses = re.split(r"\.\s(?=[A-Z])|\n", response)
    indicators = list(KEY_INDICATORS)
    key_responses = []
    for index, resp in enumerate(sub_responses):
        if index == len(sub_responses) - 1:
            indicators.append("=")
        shortest = None
        for indicator in indicators:
            if indicator in resp:
                tail = resp.split(indicator)[-1].strip()
                if shortest is None or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in [":", ",", ".", "!", "?", ";", ":", "'"]:
            key_responses.append(shortest)
    return key_responses or [response]


def parse_open_response(response: str) -> list[str | float]:
    """Candidate answers from a free-form reply: key sub-responses and the numbers in them, normalised."""
    key_responses = _key_subresponses(response)
    pred_list: list[str] = list(key_responses)
    for resp in key_responses:
        pred_list.extend(extract_numbers(resp))
    normalized: list[str | float] = []
    for pred in pred_list:
        normalized.extend(normalize_str(pred))
    return list(set(normalized))


def eval_multi_choice(gold: str | list[str], pred: str) -> bool:
    return pred in gold if isinstance(gold, list) else gold == pred


def eval_open(gold: str | list[str], preds: list[str | float]) -> bool:
    """Correct when a string gold is contained in a string prediction, or a numeric one equals it."""
    norm_answers: list[str | float] = []
    for answer in gold if isinstance(gold, list) else [gold]:
        norm_answers.extend(normalize_str(answer))
    for pred in preds:
        if isinstance(pred, str):
            if any(isinstance(a, str) and a in pred for a in norm_answers):
                return True
        elif pred in norm_answers:
            return True
    return False


def subject_domain(subject: str) -> str:
    for domain, subjects in DOMAIN_SUBJECTS.items():
        if subject in subjects:
            return domain
    raise ValueError(f"unknown MMMU subject {subject!r}; expected one of {sum(DOMAIN_SUBJECTS.values(), [])}")
