"""Helpers for evaluation tests: tiny images, a scripted predictor, hub parquet builders, judge replies."""

from __future__ import annotations

import io
import json
import re
import socket
from pathlib import Path
from typing import Callable

from PIL import Image

from minigemini.evaluation.predictor import EvalRequest


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def image_cell(name: str = "x.png") -> dict:
    return {"bytes": png_bytes(), "path": name}


class ScriptedPredictor:
    """Answers each request with `answer(prompt)`; remembers every prompt it was asked."""

    def __init__(self, answer: Callable[[str], str], model_id: str = "scripted-model"):
        self.answer = answer
        self.model_id = model_id
        self.asked: list[str] = []
        self.image_counts: list[int] = []

    def predict(self, requests: list[EvalRequest]) -> list[str]:
        for r in requests:
            assert all(isinstance(i, Image.Image) for i in r.images)
        self.asked += [r.question for r in requests]
        self.image_counts += [len(r.images) for r in requests]
        return [self.answer(r.question) for r in requests]


def write_parquet(rows: list[dict], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _last_table_row(prompt: str) -> list[str]:
    return [cell.strip() for cell in prompt.splitlines()[-1].split(" | ")]


def scripted_judge_reply(prompt: str, temperature: float) -> str | None:
    """MM-Vet: 1.0 if a ground-truth alternative is in the prediction, else 0.0 ('garbage' once at temperature 0 for
    predictions saying 'unsure'). MathVista: the last number or option letter of the response. None -> HTTP 500."""
    if "Correctness" in prompt:
        question, truth, prediction, _ = _last_table_row(prompt)
        if "explode" in prediction:
            return None
        if "unsure" in prediction and temperature == 0.0:
            return "garbage"
        alternatives = [a.strip().lower() for a in truth.split("<OR>")]
        return "1.0" if any(a in prediction.lower() for a in alternatives) else "0.0"
    response = prompt.rsplit("\n\nExtracted answer: ", 1)[0].rsplit("\n\n", 1)[-1]
    tokens = re.findall(r"\(([A-E])\)|(-?\d+(?:\.\d+)?)", response)
    return (tokens[-1][0] or tokens[-1][1]) if tokens else ""


def textvqa_hub(root: Path) -> None:
    rows = [
        {"image_id": "img1", "question_id": 1, "question": "what brand is this?", "image": image_cell(),
         "answers": ["nike"] * 10, "ocr_tokens": ["NIKE", "just"]},
        {"image_id": "img2", "question_id": 2, "question": "how many bottles?", "image": image_cell(),
         "answers": ["two"] * 6 + ["2"] * 4, "ocr_tokens": []},
    ]
    write_parquet(rows, root / "data" / "validation-00000-of-00001.parquet")


def mme_hub(root: Path) -> None:
    rows = []
    for category, name in (("existence", "000.jpg"), ("code_reasoning", "0020.png")):
        for question, answer in (("Is there a dog? Please answer yes or no.", "Yes"), ("Is there a cat? Please answer yes or no.", "No")):
            rows.append({"question_id": f"{category}/{name}", "question": question, "answer": answer,
                         "category": category, "image": image_cell(name)})
    write_parquet(rows, root / "data" / "test-00000-of-00001.parquet")


def mmbench_hub(root: Path) -> None:
    rows = [
        {"index": 0, "question": "Which animal is shown?", "hint": None, "A": "cat", "B": "dog", "C": "bird", "D": None,
         "answer": "B", "category": "object", "image": image_cell(), "source": "s", "L2-category": "l2",
         "comment": None, "split": "dev"},
        {"index": 1, "question": "What color is it?", "hint": "Look closely.", "A": "red", "B": "blue", "C": None,
         "D": None, "answer": "A", "category": "attribute", "image": image_cell(), "source": "s",
         "L2-category": "l2", "comment": None, "split": "dev"},
    ]
    write_parquet(rows, root / "en" / "dev-00000-of-00001.parquet")


def mmmu_hub(root: Path) -> None:
    base = {f"image_{i}": None for i in range(2, 8)}
    write_parquet(
        [
            {**base, "id": "validation_Art_1", "question": "Which style is <image 1>?", "options": "['Baroque', 'Cubism']",
             "answer": "B", "question_type": "multiple-choice", "image_1": image_cell()},
            {**base, "id": "validation_Art_2", "question": "How many figures in <image 1>?", "options": "[]",
             "answer": "3", "question_type": "open", "image_1": image_cell()},
        ],
        root / "Art" / "validation-00000-of-00001.parquet",
    )
    write_parquet(
        [{**base, "id": "validation_Math_1", "question": "Compare <image 1> and <image 2>.", "options": "['same', 'different']",
          "answer": "A", "question_type": "multiple-choice", "image_1": image_cell(), "image_2": image_cell()}],
        root / "Math" / "validation-00000-of-00001.parquet",
    )


def mathvista_hub(root: Path) -> None:
    rows = [
        {"pid": "1", "question": "How many sides?", "image": "images/1.jpg", "decoded_image": image_cell(), "choices": None,
         "unit": None, "precision": None, "answer": "4", "question_type": "free_form", "answer_type": "integer",
         "metadata": {"task": "geometry problem solving", "skills": ["arithmetic reasoning"]},
         "query": "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.\nQuestion: How many sides?"},
        {"pid": "2", "question": "Which is larger?", "image": "images/2.jpg", "decoded_image": image_cell(),
         "choices": ["small box", "large box"], "unit": None, "precision": None, "answer": "large box",
         "question_type": "multi_choice", "answer_type": "text",
         "metadata": {"task": "figure question answering", "skills": ["numeric commonsense"]},
         "query": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\nQuestion: Which is larger?\nChoices:\n(A) small box\n(B) large box"},
        {"pid": "3", "question": "What is the ratio?", "image": "images/3.jpg", "decoded_image": image_cell(), "choices": None,
         "unit": None, "precision": 2.0, "answer": "1.33", "question_type": "free_form", "answer_type": "float",
         "metadata": {"task": "math word problem", "skills": ["arithmetic reasoning"]},
         "query": "Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.\nQuestion: What is the ratio?"},
    ]
    write_parquet(rows, root / "data" / "testmini-00000-of-00001.parquet")


def mmvet_hub(root: Path) -> None:
    rows = [
        {"question_id": "v1_0", "image": image_cell(), "question": "What is written on the sign?", "answer": "stop",
         "image_source": "x", "capability": "ocr,rec"},
        {"question_id": "v1_1", "image": image_cell(), "question": "What is 2+3?", "answer": "5<OR>five",
         "image_source": "x", "capability": "math,ocr"},
    ]
    write_parquet(rows, root / "data" / "test-00000-of-00001.parquet")


def pope_hub(root: Path) -> None:
    rows = []
    for category in ("adversarial", "random"):
        for qid, (question, answer) in enumerate((("Is there a dog in the image?", "yes"), ("Is there a cat in the image?", "no")), 1):
            rows.append({"id": f"{category}{qid}", "question_id": qid, "question": question, "answer": answer,
                         "image_source": "COCO_val2014_000000000042", "image": image_cell(), "category": category})
    write_parquet(rows, root / "data" / "test-00000-of-00001.parquet")


def gqa_hub(root: Path) -> None:
    write_parquet(
        [
            {"id": "q1", "imageId": "n1", "question": "Is the sky blue?", "answer": "yes", "fullAnswer": "Yes.",
             "types": {"structural": "verify", "semantic": "attr", "detailed": "x"}},
            {"id": "q2", "imageId": "n1", "question": "Which side is the car on?", "answer": "left", "fullAnswer": "Left.",
             "types": {"structural": "query", "semantic": "rel", "detailed": "y"}},
        ],
        root / "testdev_balanced_instructions" / "testdev-00000-of-00001.parquet",
    )
    write_parquet([{"id": "n1", "image": image_cell()}], root / "testdev_balanced_images" / "testdev-00000-of-00001.parquet")


HUB_BUILDERS = {
    "textvqa": textvqa_hub, "mme": mme_hub, "mmbench": mmbench_hub, "mmmu": mmmu_hub,
    "mathvista": mathvista_hub, "mmvet": mmvet_hub, "pope": pope_hub, "gqa": gqa_hub,
}


def write_official_answers(path: Path, rows: list[dict]) -> Path:
    """An answer file as the official LLaVA/MGM eval scripts write it: `ans_file.write(json.dumps(row) + "\\n")`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as ans_file:
        for row in rows:
            ans_file.write(json.dumps(row) + "\n")
    return path


def model_vqa_row(question_id, prompt: str, text: str, model_id: str = "MGM-7B") -> dict:
    """One row of `model_vqa` / `model_vqa_loader`, with their keys in their order."""
    return {"question_id": question_id, "prompt": prompt, "text": text, "answer_id": "Zx3pLuYWyEnb7PFkD7sBz4",
            "model_id": model_id, "metadata": {}}
