"""MM-Vet grading and MathVista extraction through a real OpenAI-compatible server on 127.0.0.1."""

import json

import pytest

from minigemini.evaluation import Judge, judge_from_settings, run_benchmark
from minigemini.evaluation.scorers.mathvista import (
    MathVistaProblem,
    extraction_prompt,
    normalize_extraction,
    quick_extraction,
)
from minigemini.evaluation.scorers.mmvet import grader_prompt, parse_grade

from eval_helpers import ScriptedPredictor

MMVET_REPLIES = {"What is written on the sign?": "It says STOP.", "What is 2+3?": "I am unsure, maybe five"}


def test_mmvet_grades_with_retry_and_writes_submission(prepared, judge_server, tmp_path):
    data = prepared("mmvet")
    judge = Judge(model="local-grader", base_url=judge_server["base_url"])
    predictor = ScriptedPredictor(lambda prompt: MMVET_REPLIES[prompt])
    record = run_benchmark("mmvet", predictor, data, tmp_path, judge=judge, progress=False)
    assert record["metrics"] == {"total": 100.0}
    assert record["categories"] == {"math": {"score": 100.0}, "ocr": {"score": 100.0}, "rec": {"score": 100.0}}
    assert record["protocol"]["judge"]["model"] == "local-grader"
    temperatures = [body["temperature"] for body in judge_server["received"]]
    assert sorted(temperatures) == [0.0, 0.0, 0.5]  # the 'unsure' answer got a garbage grade once, then a retry
    submission = json.loads((tmp_path / "mmvet_submission.json").read_text())
    assert submission == {"v1_0": "It says STOP.", "v1_1": "I am unsure, maybe five"}


def test_mmvet_unreachable_judge_is_counted_not_fatal(prepared, judge_server, tmp_path):
    data = prepared("mmvet")
    judge = Judge(model="local-grader", base_url=judge_server["base_url"], max_retries=0)
    predictor = ScriptedPredictor(lambda prompt: "stop" if "sign" in prompt else "explode")
    record = run_benchmark("mmvet", predictor, data, tmp_path, judge=judge, progress=False)
    assert record["counts"] == {"questions": 2, "graded": 1, "judge_failures": 1}
    assert record["protocol"]["judge"]["failures"] == 1
    assert record["metrics"] == {"total": 100.0}


MATHVISTA_REPLIES = {
    "How many sides?": "It is a square, so it has 4 sides.",
    "Which is larger?": "The right one is bigger, so the answer is (B).",
    "What is the ratio?": "Dividing gives 1.3333",
}


def test_mathvista_extracts_with_the_judge_and_caches(prepared, judge_server, tmp_path):
    data = prepared("mathvista")
    judge = Judge(model="local-extractor", base_url=judge_server["base_url"])

    def reply(prompt: str) -> str:
        return next(text for question, text in MATHVISTA_REPLIES.items() if question in prompt)

    record = run_benchmark("mathvista", ScriptedPredictor(reply), data, tmp_path, judge=judge, progress=False)
    assert record["metrics"] == {"accuracy": 100.0}
    assert record["categories"]["skill/arithmetic reasoning"] == {"accuracy": 100.0}
    assert len(judge_server["received"]) == 3
    prompt = judge_server["received"][0]["messages"][0]["content"]
    assert prompt.endswith("\n\nIt is a square, so it has 4 sides.\n\nExtracted answer: ")

    from minigemini.evaluation import score_predictions

    score_predictions("mathvista", data, tmp_path / "mathvista_answers.jsonl", judge=judge, show=False)
    assert len(judge_server["received"]) == 3  # every extraction came from the cache


def test_judge_benchmarks_refuse_to_start_without_a_judge(prepared, tmp_path):
    with pytest.raises(ValueError, match="--judge-model"):
        run_benchmark("mmvet", ScriptedPredictor(str), prepared("mmvet"), tmp_path, progress=False)


def test_judge_needs_a_key_for_the_default_endpoint_only(monkeypatch):
    monkeypatch.delenv("MINIGEMINI_JUDGE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="MINIGEMINI_JUDGE_API_KEY"):
        judge_from_settings("gpt-4-0613")
    assert judge_from_settings("local", "http://127.0.0.1:9/v1").api_key == "EMPTY"
    monkeypatch.setenv("MINIGEMINI_JUDGE_API_KEY", "k")
    assert judge_from_settings("gpt-4-0613").api_key == "k"


def test_mmvet_grader_prompt_ends_with_the_open_table_row():
    prompt = grader_prompt("What is 2+3?", "5<OR>five", "five")
    assert prompt.splitlines()[-1] == "What is 2+3? | 5 <OR> five | five | "
    assert "Question | Ground truth | Prediction | Correctness" in prompt
    assert parse_grade("0.7 because") == 0.7
    assert parse_grade("1.5") is None and parse_grade("great") is None


CHOICE = MathVistaProblem("q", "multi_choice", "text", ["5 cm", "8 cm", "12 cm"], None, "8 cm")


@pytest.mark.parametrize(
    ("extraction", "problem", "normalized"),
    [
        ("(B) 8 cm", CHOICE, "8 cm"),
        ("C", CHOICE, "12 cm"),
        ("5 cn", CHOICE, "5 cm"),  # nearest by edit distance
        ("", CHOICE, "5 cm"),
        ("3.0", MathVistaProblem("q", "free_form", "integer", None, None, "3"), "3"),
        ("1.236", MathVistaProblem("q", "free_form", "float", None, 2, "1.24"), "1.24"),
        ("[1, 2]", MathVistaProblem("q", "free_form", "list", None, None, "[1, 2]"), "[1, 2]"),
        ("about four", MathVistaProblem("q", "free_form", "integer", None, None, "4"), None),
    ],
)
def test_mathvista_normalisation_matches_calculate_score(extraction, problem, normalized):
    assert normalize_extraction(extraction, problem) == normalized


def test_mathvista_quick_extraction_skips_the_judge_for_plain_answers():
    integer = MathVistaProblem("q", "free_form", "integer", None, None, "4")
    assert quick_extraction("4", integer) == "4"
    assert quick_extraction("8 cm", CHOICE) == "8 cm"
    assert quick_extraction("It is 4", integer) is None
    assert extraction_prompt("Q", "R").endswith("\n\nQ\n\nR\n\nExtracted answer: ")
