"""MME, MMBench and MMMU scorers against hand-computed values."""

import random

import pytest

from minigemini.evaluation.scorers.mmbench import MMBenchAnswer, extract_choice, mmbench_scores
from minigemini.evaluation.scorers.mme import MMEAnswer, mme_scores, parse_yes_no
from minigemini.evaluation.scorers.mmmu import (
    eval_open,
    parse_multi_choice_response,
    parse_open_response,
)


@pytest.mark.parametrize(
    ("reply", "label"),
    [("Yes", "yes"), ("no", "no"), ("Yes, there is", "yes"), ("Not sure", "no"), ("I think no", "other")],
)
def test_mme_yes_no_comes_from_first_four_characters(reply, label):
    assert parse_yes_no(reply) == label


def test_mme_half_right_pair_counts_for_acc_but_not_acc_plus():
    answers = [
        MMEAnswer("existence", "1.jpg", "Yes", "Yes"),
        MMEAnswer("existence", "1.jpg", "No", "No"),
        MMEAnswer("existence", "2.jpg", "Yes", "Yes, there is"),
        MMEAnswer("existence", "2.jpg", "No", "yes"),
        MMEAnswer("code_reasoning", "c.png", "Yes", "yes"),
        MMEAnswer("code_reasoning", "c.png", "No", "No."),
    ]
    scores = mme_scores(answers)
    assert scores["existence"] == pytest.approx({"acc": 75.0, "acc_plus": 50.0, "score": 125.0})
    assert scores["perception"]["score"] == pytest.approx(125.0)
    assert scores["cognition"]["score"] == pytest.approx(200.0)


def test_mme_rejects_unknown_subtask_names():
    with pytest.raises(ValueError, match="unknown MME subtasks"):
        mme_scores([MMEAnswer("Existence", "1.jpg", "Yes", "Yes")])


OPTIONS = {"A": "cat", "B": "dog", "C": "bird", "D": "fish"}


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("B", "B"),
        ("The answer is B.", "B"),
        ("(C) bird", "C"),
        ("I think it's a dog", "B"),
        ("A or B", None),
        ("Cannot determine the answer", "Z"),
    ],
)
def test_mmbench_letter_extraction(reply, letter):
    assert extract_choice(reply, OPTIONS) == letter


def test_mmbench_circular_needs_every_rotation_right():
    answers = [
        MMBenchAnswer(5, "ocr", "B", "B", OPTIONS),
        MMBenchAnswer(1_000_005, "ocr", "A", "A", OPTIONS),
        MMBenchAnswer(7, "scene", "C", "C", OPTIONS),
        MMBenchAnswer(1_000_007, "scene", "B", "D", OPTIONS),
        MMBenchAnswer(2_000_007, "scene", "A", "no idea", OPTIONS),
    ]
    overall, categories, unparsed = mmbench_scores(answers)
    assert overall == {"circular": 50.0, "single_pass": 100.0}
    assert categories["scene"] == {"circular": 0.0, "single_pass": 100.0}
    assert unparsed == 1


LETTERS = ["A", "B", "C", "D"]
INDEX2ANS = {"A": "blue whale", "B": "shark", "C": "octopus", "D": "seal"}


def test_mmmu_takes_the_last_bracketed_letter_when_several_appear():
    assert parse_multi_choice_response("(A) or (B)? The answer is (B)", LETTERS, INDEX2ANS, random.Random(0)) == "B"


def test_mmmu_bare_letters_pick_the_last_mentioned():
    assert parse_multi_choice_response("A B", LETTERS, INDEX2ANS, random.Random(0)) == "B"


def test_mmmu_long_reply_falls_back_to_option_text():
    reply = "I believe the correct one is the blue whale for sure"
    assert parse_multi_choice_response(reply, LETTERS, INDEX2ANS, random.Random(0)) == "A"


def test_mmmu_reply_without_letters_draws_like_the_official_seeded_random():
    random.seed(42)  # what the official run does once, before parsing in order
    official = [random.choice(LETTERS) for _ in range(5)]
    rng = random.Random(42)
    ours = [parse_multi_choice_response("hmm", LETTERS, INDEX2ANS, rng) for _ in range(5)]
    assert ours == official


def test_mmmu_open_answers_use_numbers_after_indicators():
    assert 3.14 in parse_open_response("The answer is 3.14159")
    assert eval_open("3.14", parse_open_response("The answer is 3.14159"))
    assert eval_open("red", parse_open_response("so the color is Red"))
    assert eval_open(["24/7", "3.43"], parse_open_response("it equals 3.43"))
    assert not eval_open("7", parse_open_response("the result is 8"))
