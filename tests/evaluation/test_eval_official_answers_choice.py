"""Answer files written in the official LLaVA/MGM shapes score unchanged: MMBench, MMMU, MathVista, MM-Vet.

Each fixture row is written as the official script writes it (`json.dumps({...}) + "\\n"`, its keys in its
order); expected scores are computed by hand in each test.
"""

import base64
import csv
import json

import pytest

from minigemini.evaluation import Judge, score_predictions

from eval_helpers import model_vqa_row, png_bytes, write_official_answers

LETTER = "Answer with the option's letter from the given choices directly."


# --- MMBench --------------------------------------------------------------------------------------

def mmbench_tsv(root):
    """Question 0 ships its circular copy (index 1000000); question 1 ships none (the loader rotates it)."""
    image = base64.b64encode(png_bytes()).decode()
    header = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "l2-category", "comment", "split"]
    rows = [
        [0, "Which animal is shown?", "nan", "cat", "dog", "", "", "B", "object", image, "s", "l2", "nan", "dev"],
        [1000000, "Which animal is shown?", "nan", "dog", "cat", "", "", "A", "object", image, "s", "l2", "nan", "dev"],
        [1, "What color is it?", "nan", "red", "blue", "green", "", "A", "attribute", image, "s", "l2", "nan", "dev"],
    ]
    root.mkdir()
    with open(root / "mmbench_dev_20230712.tsv", "w", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows([header, *rows])
    return root


def mmbench_row(index, round_id, options, text):
    """One row of `model_vqa_mmbench --all-rounds`, with its keys in its order (options already rotated)."""
    letters = ["A", "B", "C", "D"][: len(options)]
    prompt = "Q" + "".join(f"\n{letter}. {option}" for letter, option in zip(letters, options))
    return {"question_id": index, "round_id": round_id, "prompt": prompt, "text": text, "options": options,
            "option_char": letters, "answer_id": "Zx3pLuYWyEnb7PFkD7sBz4", "model_id": "MGM-7B", "metadata": {}}


def test_official_mmbench_all_rounds_answers_score_circularly(tmp_path):
    data = mmbench_tsv(tmp_path / "mmbench")
    answers = write_official_answers(tmp_path / "answers" / "mgm.jsonl", [
        mmbench_row(0, 0, ["cat", "dog"], "B"),
        mmbench_row(0, 1, ["dog", "cat"], "A"),  # a round of a question that ships its copy: not ours, left out
        mmbench_row(1000000, 0, ["dog", "cat"], "A"),
        mmbench_row(1000000, 1, ["cat", "dog"], "A"),  # likewise (it would make index 1000000 wrong)
        mmbench_row(1, 0, ["red", "blue", "green"], "A"),
        mmbench_row(1, 1, ["blue", "green", "red"], "C"),  # our copy 1000001: red is now C
        mmbench_row(1, 2, ["green", "red", "blue"], "The answer is A"),  # copy 2000001: red is B -> wrong
    ])
    record = score_predictions("mmbench", data, answers, show=False)
    # q0: B (right), copy A (right) -> circular right. q1: A right, C right, A wrong -> circular wrong.
    # single pass (index < 1e6): q0 right, q1 right.
    assert record["metrics"] == {"circular": 50.0, "single_pass": 100.0}
    assert record["counts"]["passes"] == 5


def test_official_mmbench_single_pred_answers_score_a_tsv_with_copies(tmp_path):
    data = mmbench_tsv(tmp_path / "mmbench")
    rows = [mmbench_row(0, 0, ["cat", "dog"], "A"), mmbench_row(1000000, 0, ["dog", "cat"], "A"),
            mmbench_row(1, 0, ["red", "blue", "green"], "A")]
    answers = write_official_answers(tmp_path / "a.jsonl", rows)
    with pytest.raises(ValueError, match="2 of 5 samples have no prediction .first: '1000001'"):
        score_predictions("mmbench", data, answers, show=False)  # q1 ships no copies: its rotations were never asked


# --- MMMU (MGM's MMMU/eval/run_llava.py) ----------------------------------------------------------

def test_official_mmmu_answers_score_from_their_responses(prepared, tmp_path):
    data = prepared("mmmu")  # Art_1 MC answer B (Baroque/Cubism), Art_2 open answer 3, Math_1 MC answer A
    rows = [
        {"id": "validation_Art_1", "question_type": "multiple-choice", "answer": "B", "response": "(B) Cubism",
         "parsed_pred": "B", "index2ans": {"A": "Baroque", "B": "Cubism"}},
        {"id": "validation_Art_2", "question_type": "open", "answer": "3", "response": "There are 3 figures.",
         "parsed_pred": ["there are 3 figures.", 3.0]},
        {"id": "validation_Math_1", "question_type": "multiple-choice", "answer": "A", "response": "B",
         "parsed_pred": "B", "index2ans": {"A": "same", "B": "different"}},
    ]
    answers = write_official_answers(tmp_path / "answers" / "mmmu_val.jsonl", rows)
    record = score_predictions("mmmu", data, answers, show=False)
    # Art_1 "(B)" -> B right; Art_2 number 3 right; Math_1 " B " -> B, answer A -> wrong.
    assert record["metrics"]["accuracy"] == pytest.approx(200 / 3)
    assert record["categories"]["Art"] == {"accuracy": 100.0}
    assert record["categories"]["Math"] == {"accuracy": 0.0}
    assert record["model"] == "unknown"  # MGM's MMMU rows carry no model_id


# --- MathVista (MGM's model_math_vista.py) ---------------------------------------------------------

def test_official_mathvista_answers_score_through_the_judge(prepared, judge_server, tmp_path):
    data = prepared("mathvista")  # pid 1: integer 4; pid 2: MC "large box" = (B); pid 3: float 1.33
    problems = json.loads((data / "testmini.json").read_text())
    responses = {"1": "It has 4 sides.", "2": "The answer is (B).", "3": "The ratio is 1.5"}
    rows = [{**problems[pid], "query": problems[pid]["query"], "response": text} for pid, text in responses.items()]
    answers = write_official_answers(tmp_path / "answers" / "mathvista.jsonl", rows)
    judge = Judge(model="local-extractor", base_url=judge_server["base_url"])
    record = score_predictions("mathvista", data, answers, judge=judge, show=False)
    # 4 == 4 right; B -> "large box" right; 1.5 != 1.33 wrong.
    assert record["metrics"] == {"accuracy": pytest.approx(200 / 3)}


# --- MM-Vet (LLaVA/MGM model_vqa on llava-mm-vet.jsonl) --------------------------------------------

def test_official_mmvet_numeric_question_ids_become_v1_keys(prepared, judge_server, tmp_path):
    data = prepared("mmvet")  # v1_0 answer "stop"; v1_1 answer "5<OR>five"
    answers = write_official_answers(tmp_path / "answers" / "mmvet.jsonl", [
        model_vqa_row(0, "What is written on the sign?", "It says STOP"),
        model_vqa_row(1, "What is 2+3?", "six"),
    ])
    judge = Judge(model="local-grader", base_url=judge_server["base_url"])
    record = score_predictions("mmvet", data, answers, judge=judge, show=False)
    assert record["metrics"] == {"total": 50.0}  # graded 1.0 and 0.0
    submission = json.loads((tmp_path / "answers" / "mmvet_submission.json").read_text())
    assert submission == {"v1_0": "It says STOP", "v1_1": "six"}  # what convert_mmvet_for_eval.py writes
