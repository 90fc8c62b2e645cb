"""Answer files written in the official LLaVA/MGM shapes score unchanged: TextVQA, MME, POPE, GQA.

Each fixture row is written as `model_vqa_loader` writes it (`json.dumps({...}) + "\\n"`, its keys in its
order); expected scores are computed by hand in each test.
"""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from minigemini.evaluation import score_predictions
from minigemini.evaluation.cli import app as eval_app

from eval_helpers import model_vqa_row, write_official_answers

SHORT = "Answer the question using a single word or phrase."


def score_cli(bench: str, data, predictions, *extra: str) -> dict:
    result = CliRunner().invoke(eval_app, ["score", bench, "--data", str(data), "--predictions", str(predictions), *extra])
    assert result.exit_code == 0, result.output
    return json.loads((predictions.parent / f"{bench}_results.json").read_text())


# --- TextVQA ----------------------------------------------------------------------------------------

def textvqa_folder(root):
    """Only TextVQA_0.5.1_val.json: no OCR file, no images (scoring needs neither)."""
    data = [
        {"question_id": 34602, "question": "what is the brand of this camera?", "image_id": "003a8ae2ef43b901",
         "answers": ["nikon"] * 10},
        {"question_id": 34603, "question": "what year is on the sign?", "image_id": "003a8ae2ef43b901",
         "answers": ["2014"] * 2 + ["2015"] * 8},
        {"question_id": 34604, "question": "what number is on the shirt?", "image_id": "00685bc495504d61",
         "answers": ["5"] * 3 + ["6"] * 7},
    ]
    root.mkdir()
    (root / "TextVQA_0.5.1_val.json").write_text(json.dumps({"dataset_name": "textvqa", "data": data}))
    return root


def test_official_textvqa_answers_score_without_the_ocr_file(tmp_path):
    data = textvqa_folder(tmp_path / "textvqa")
    # llava_textvqa_val_v051_ocr.jsonl: question_id is the IMAGE id; eval_textvqa finds the question in the prompt.
    answers = write_official_answers(tmp_path / "answers" / "mgm.jsonl", [
        model_vqa_row("00685bc495504d61", f"Reference OCR token: 5, 6\nwhat number is on the shirt?\n{SHORT}", "five."),
        model_vqa_row("003a8ae2ef43b901", f"what is the brand of this camera?\nReference OCR token: NIKON, D90\n{SHORT}", "Nikon"),
        model_vqa_row("003a8ae2ef43b901", f"what year is on the sign?\n{SHORT}", "2014"),
    ])
    record = score_cli("textvqa", data, answers, "--protocol", "official")
    # Leave-one-out VQA accuracy by hand: "nikon" 10/10 -> 1. "2014" (2 of 10): left-out 2014 -> 1/3, else 2/3
    # -> (2*1/3 + 8*2/3)/10 = 0.6. "five." -> "5" (3 of 10): left-out 5 -> 2/3, else 1 -> (3*2/3 + 7)/10 = 0.9.
    assert record["metrics"]["accuracy"] == pytest.approx(100 * (1 + 0.6 + 0.9) / 3)
    assert record["counts"] == {"questions": 3}
    assert record["model"] == "MGM-7B"


def test_textvqa_missing_annotations_says_what_they_are_for(tmp_path):
    (tmp_path / "empty").mkdir()
    answers = write_official_answers(tmp_path / "a.jsonl", [model_vqa_row("x", f"q?\n{SHORT}", "a")])
    with pytest.raises(FileNotFoundError, match="needed for the TextVQA questions and ground-truth answers"):
        score_predictions("textvqa", tmp_path / "empty", answers, show=False)


# --- MME ------------------------------------------------------------------------------------------

def mme_folder(root):
    """Both published sub-layouts: existence/ flat, artwork/ with images/ + questions_answers_YN/."""
    (root / "existence").mkdir(parents=True)
    for stem, lines in {
        "e1": ["Is there a dog in this image? Please answer yes or no.\tYes", "Is there a cat in this image? Please answer yes or no.\tNo"],
        "e2": ["Is there a car in this image? Please answer yes or no.\tYes", "Is there a bus in this image? Please answer yes or no.\tNo"],
    }.items():
        Image.new("RGB", (8, 8)).save(root / "existence" / f"{stem}.jpg")
        (root / "existence" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "artwork" / "images").mkdir(parents=True)
    (root / "artwork" / "questions_answers_YN").mkdir()
    Image.new("RGB", (8, 8)).save(root / "artwork" / "images" / "10002.jpg")
    (root / "artwork" / "questions_answers_YN" / "10002.txt").write_text(
        "Is this artwork created by da Vinci? Please answer yes or no.\tYes\n"
        "Is this artwork created by Monet?  Please answer yes or no.\tNo\n"  # MME's own double space
    )
    return root


def test_official_mme_answers_match_by_image_and_question_as_convert_answer_to_mme(tmp_path):
    data = mme_folder(tmp_path / "MME_Benchmark_release_version")
    # llava_mme.jsonl: both questions of an image share question_id "<subtask>/<image>"; rows in any order.
    answers = write_official_answers(tmp_path / "answers" / "mgm.jsonl", [
        model_vqa_row("existence/e1.jpg", f"Is there a cat in this image?\n{SHORT}", "No, there is not."),
        model_vqa_row("existence/e1.jpg", f"Is there a dog in this image? Please answer yes or no.\n{SHORT}", "Yes"),
        model_vqa_row("existence/e2.jpg", f"Is there a car in this image?\n{SHORT}", "yes"),
        model_vqa_row("existence/e2.jpg", f"Is there a bus in this image?\n{SHORT}", "Yes"),
        model_vqa_row("artwork/10002.jpg", f"Is this artwork created by da Vinci?\n{SHORT}", "I think so"),
        model_vqa_row("artwork/10002.jpg", f"Is this artwork created by Monet?\n{SHORT}", "no"),
    ])
    record = score_cli("mme", data, answers)
    # existence: right, right | right, wrong -> acc 3/4 = 75, acc+ (both right) 1/2 = 50 -> 125.
    # artwork: "I think so" -> "i th" holds neither yes nor no -> other (wrong); "no" right -> acc 50, acc+ 0 -> 50.
    assert record["categories"]["existence"] == {"acc": 75.0, "acc_plus": 50.0, "score": 125.0}
    assert record["categories"]["artwork"] == {"acc": 50.0, "acc_plus": 0.0, "score": 50.0}
    assert record["metrics"] == {"perception": 175.0, "cognition": 0.0}
    assert record["counts"] == {"questions": 6}


# --- POPE -----------------------------------------------------------------------------------------

def pope_folder(root, with_question_file: bool = True):
    labels = {"adversarial": ["yes", "no", "yes"], "random": ["no", "yes", "no"]}
    root.mkdir()
    questions = []
    for offset, (category, values) in zip((0, 3000), labels.items()):
        lines = []
        for qid, label in enumerate(values, 1):
            item = {"question_id": qid, "image": f"COCO_val2014_00000000000{qid}.jpg", "text": f"Is there a thing {qid}?", "label": label}
            lines.append(json.dumps(item))
            questions.append({"question_id": offset + qid, "image": item["image"], "text": f"{item['text']}\n{SHORT}", "category": category})
        (root / f"coco_pope_{category}.json").write_text("\n".join(lines) + "\n")
    if with_question_file:
        (root / "llava_pope_test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return root


OFFICIAL_POPE_ROWS = [  # categories interleaved: eval_pope.py keeps each category's rows in file order
    (1, "Yes, there is a dog."), (3001, "Yes"), (2, "No."), (3002, "yes. No way"), (3, "There is not a cat."), (3003, "Nope"),
]


def test_official_pope_answers_pair_with_labels_per_category_as_eval_pope(tmp_path):
    data = pope_folder(tmp_path / "pope")
    answers = write_official_answers(
        tmp_path / "answers" / "mgm.jsonl", [model_vqa_row(q, f"Is there a thing?\n{SHORT}", t) for q, t in OFFICIAL_POPE_ROWS]
    )
    record = score_cli("pope", data, answers)
    # adversarial labels yes,no,yes; replies -> yes ("Yes, there is a dog"), no ("No"), no ("not") -> TP1 TN1 FN1.
    adversarial = record["categories"]["adversarial"]
    assert adversarial["accuracy"] == pytest.approx(100 * 2 / 3)
    assert (adversarial["precision"], adversarial["recall"]) == (100.0, 50.0)
    assert adversarial["f1"] == pytest.approx(100 * 2 / 3)
    assert adversarial["yes_ratio"] == pytest.approx(100 / 3)
    # random labels no,yes,no; replies -> yes, yes (first sentence "yes"), yes ("Nope" is not "no") -> TP1 FP2.
    random = record["categories"]["random"]
    assert random["accuracy"] == pytest.approx(100 / 3)
    assert random["precision"] == pytest.approx(100 / 3)
    assert (random["recall"], random["yes_ratio"]) == (100.0, 100.0)
    assert random["f1"] == pytest.approx(50.0)
    assert record["metrics"]["accuracy"] == 50.0  # overall: TP2 FP2 TN1 FN1


def test_official_pope_answers_without_llava_question_file_name_it(tmp_path):
    data = pope_folder(tmp_path / "pope", with_question_file=False)
    answers = write_official_answers(tmp_path / "a.jsonl", [model_vqa_row(q, "q", t) for q, t in OFFICIAL_POPE_ROWS])
    result = CliRunner().invoke(eval_app, ["score", "pope", "--data", str(data), "--predictions", str(answers)])
    assert result.exit_code == 2
    assert "llava_pope_test.jsonl" in result.output and "category" in result.output


# --- GQA ------------------------------------------------------------------------------------------

def test_official_gqa_answers_score_with_convert_gqa_for_eval_normalisation(tmp_path):
    data = tmp_path / "gqa"
    data.mkdir()
    (data / "testdev_balanced_questions.json").write_text(json.dumps({
        "201307251": {"imageId": "n1", "question": "Is the sky blue?", "answer": "yes", "types": {"structural": "verify"}},
        "201640614": {"imageId": "n1", "question": "Which side is the car on?", "answer": "left", "types": {"structural": "query"}},
        "202225914": {"imageId": "n2", "question": "What is it?", "answer": "tree", "types": {"structural": "query"}},
    }))
    answers = write_official_answers(tmp_path / "answers" / "mgm.jsonl", [
        model_vqa_row("201307251", f"Is the sky blue?\n{SHORT}", "Yes."),  # rstrip('.').lower() -> "yes"
        model_vqa_row("201640614", f"Which side is the car on?\n{SHORT}", "Right"),
        model_vqa_row("202225914", f"What is it?\n{SHORT}", "Tree"),
    ])
    record = score_cli("gqa", data, answers)
    assert record["metrics"]["accuracy"] == pytest.approx(200 / 3)
    assert record["categories"] == {"query": {"accuracy": 50.0}, "verify": {"accuracy": 100.0}}
