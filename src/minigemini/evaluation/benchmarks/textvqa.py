"""TextVQA val in its published layout.

    DATA/TextVQA_0.5.1_val.json              {"data": [{question_id, question, image_id, answers[10]}, ...]}
    DATA/TextVQA_Rosetta_OCR_v0.2_val.json   {"data": [{image_id, ocr_tokens}, ...]} (for OCR prompts)
    DATA/train_images/<image_id>.jpg

Scoring needs only the first file. Answer files: ours (`question_id` = the TextVQA question id) or LLaVA/MGM
`model_vqa_loader` on llava_textvqa_val_v051_ocr.jsonl, whose `question_id` is the *image* id; `eval_textvqa.py`
matches those by (image id, question recovered from `prompt`), and so does `match`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.textvqa import textvqa_accuracy
from .base import (
    SHORT_ANSWER,
    AnswerRows,
    Benchmark,
    PromptStyle,
    answer_field,
    percent,
    predictions_for,
    read_json,
    split_own_rows,
    write_json,
)
from .hub import plain, read_hub_split, write_image

ANNOTATIONS = "TextVQA_0.5.1_val.json"
OCR_FILE = "TextVQA_Rosetta_OCR_v0.2_val.json"
IMAGE_DIR = "train_images"

STYLES = {
    "official": PromptStyle(
        "official", "MGM/LLaVA llava_textvqa_val_v051_ocr: question, 'Reference OCR token: ...' line, short-answer instruction",
        Decoding(max_new_tokens=128),
        ocr=True,
    ),
    "lmms-eval": PromptStyle(
        "lmms-eval", "lmms-eval textvqa_val default: capitalised question, short-answer instruction, no OCR tokens",
        Decoding(max_new_tokens=128),
        ocr=False,
    ),
}


def _ocr_by_image(data_dir: Path) -> dict[str, list[str]]:
    path = data_dir / OCR_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is needed for the official prompt (Reference OCR token); add it or use --protocol lmms-eval"
        )
    return {str(e["image_id"]): list(e["ocr_tokens"]) for e in read_json(path, "the OCR prompt lines")["data"]}


def build_prompt(question: str, ocr_tokens: list[str] | None, capitalize: bool) -> str:
    text = question.capitalize() if capitalize else question
    if ocr_tokens:
        text += "\nReference OCR token: " + ", ".join(ocr_tokens)
    return f"{text}\n{SHORT_ANSWER}"


def load(data_dir: Path, style: PromptStyle, with_prompts: bool = True) -> list[Sample]:
    """Samples; without prompts (scoring) the OCR file is not read and prompts hold no OCR line."""
    entries = read_json(data_dir / ANNOTATIONS, "the TextVQA questions and ground-truth answers")["data"]
    ocr = _ocr_by_image(data_dir) if style.ocr and with_prompts else {}
    samples = []
    for e in entries:
        tokens = ocr.get(str(e["image_id"]), []) if style.ocr else None
        samples.append(
            Sample(
                id=str(e["question_id"]),
                prompt=build_prompt(e["question"], tokens, capitalize=style.protocol == "lmms-eval"),
                load_images=file_loader(data_dir / IMAGE_DIR / f"{e['image_id']}.jpg"),
                decoding=style.decoding,
                meta={"answers": e.get("answers"), "image_id": str(e["image_id"]), "question": e["question"]},
            )
        )
    return samples


def load_for_scoring(data_dir: Path, style: PromptStyle) -> list[Sample]:
    return load(data_dir, style, with_prompts=False)


def question_from_prompt(prompt: str) -> str:
    """The lowercased question inside an official answer row's prompt (`eval_textvqa.prompt_processor`)."""
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        found = re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL)
        question = found.group(1) if found else None
    elif "Reference OCR token: " in prompt and len(lines) == 3:
        question = lines[1] if prompt.startswith("Reference OCR token:") else lines[0]
    elif len(lines) == 2:
        question = lines[0]
    else:
        question = None
    if question is None:
        raise ValueError(f"cannot find the question in TextVQA prompt {prompt[:80]!r} (eval_textvqa.py would stop too)")
    return question.lower()


def match(samples: list[Sample], rows: AnswerRows, data_dir: Path) -> dict[str, str]:
    """Our rows by question id; official rows by (image id, question), the k-th row of a pair to its k-th sample."""
    found, official = split_own_rows(samples, rows)
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sample in samples:
        by_key[(sample.meta["image_id"], sample.meta["question"].lower())].append(sample.id)
    for number, row in official:
        key = (str(answer_field(number, row, "question_id")), question_from_prompt(str(answer_field(number, row, "prompt"))))
        if by_key.get(key):  # rows beyond the samples (a --limit run) are left out, as our own extra rows are
            found[by_key[key].pop(0)] = str(answer_field(number, row, "text"))
    return found


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    pairs = predictions_for(samples, predictions)
    if any(not s.meta["answers"] for s, _ in pairs):
        raise ValueError("TextVQA samples without 'answers' (test split?) cannot be scored locally")
    accuracies = [textvqa_accuracy(p, s.meta["answers"]) for s, p in pairs]
    return BenchmarkScore(metrics={"accuracy": percent(accuracies)}, counts={"questions": len(pairs)})


def prepare(source: Path, out: Path) -> Path:
    """lmms-lab/textvqa (validation parquet) -> published layout."""
    frame = read_hub_split(source, "validation")
    data, ocr = [], {}
    for row in frame.to_dict("records"):
        image_id = str(row["image_id"])
        if image_id not in ocr:
            write_image(row["image"], out / IMAGE_DIR / f"{image_id}.jpg")
            ocr[image_id] = plain(row.get("ocr_tokens")) or []
        data.append(
            {
                "question_id": plain(row["question_id"]),
                "question": row["question"],
                "image_id": image_id,
                "answers": plain(row["answers"]),
            }
        )
    write_json(out / ANNOTATIONS, {"dataset_name": "textvqa", "dataset_type": "val", "data": data})
    write_json(out / OCR_FILE, {"data": [{"image_id": k, "ocr_tokens": v} for k, v in ocr.items()]})
    return out


BENCHMARK = Benchmark("textvqa", STYLES, load, score, prepare, match=match, load_for_scoring=load_for_scoring)
