"""TextVQA, GQA and POPE scorers against hand-computed values."""

import pytest

from minigemini.evaluation.scorers.gqa import gqa_correct
from minigemini.evaluation.scorers.pope import parse_pope_answer, pope_metrics
from minigemini.evaluation.scorers.textvqa import answer_scores, textvqa_accuracy
from minigemini.evaluation.scorers.vqa_answer import normalize_vqa_answer


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Two.", "2"),
        ("The Coca-Cola", "coca cola"),
        ("dont", "don't"),
        ("a / b", "b"),
        ("3.5", "3.5"),
        ("Ten, maybe?", "10 maybe"),
        ("an apple's core", "apple 's core"),
        ("  None  ", "0"),
    ],
)
def test_vqa_normalisation_handles_punctuation_articles_numbers_contractions(raw, normalized):
    assert normalize_vqa_answer(raw) == normalized


def test_textvqa_number_word_matches_digits_with_leave_one_out_averaging():
    gt = ["2", "2", "two"] + ["three"] * 7
    # "2" appears 3 times: leaving one of them out leaves 2 matches (2/3), otherwise 3 matches (1).
    assert textvqa_accuracy("Two.", gt) == pytest.approx((3 * 2 / 3 + 7 * 1) / 10)
    assert textvqa_accuracy("3", gt) == pytest.approx(1.0)


def test_textvqa_single_matching_annotator_gives_point_three():
    gt = ["coca cola"] + ["coke"] * 9
    assert textvqa_accuracy("The Coca-Cola", gt) == pytest.approx(0.3)
    assert answer_scores(gt)["coke"] == pytest.approx(1.0)


def test_textvqa_rejects_questions_without_ten_answers():
    with pytest.raises(ValueError, match="10 human answers"):
        textvqa_accuracy("x", ["x"] * 9)


def test_gqa_exact_match_after_trailing_period_and_case():
    assert gqa_correct("Yes.", "yes")
    assert gqa_correct(" Left ", "left")
    assert not gqa_correct("the left", "left")


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [("Yes, there is a dog.", "yes"), ("No.", "no"), ("There is not a cat", "no"), ("Nope", "yes"), ("yes. no", "yes")],
)
def test_pope_reads_first_sentence_and_no_not_words(reply, parsed):
    assert parse_pope_answer(reply) == parsed


def test_pope_metrics_match_hand_counts():
    # TP=2, TN=1, FN=1, FP=1
    metrics = pope_metrics(["Yes", "No", "No", "Yes", "Yes"], ["yes", "no", "yes", "yes", "no"])
    assert metrics == pytest.approx(
        {"accuracy": 0.6, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "yes_ratio": 0.6}
    )
