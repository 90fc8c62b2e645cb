"""TextVQA val in its published layout.

    DATA/TextVQA_0.5.1_val.json              {"data": [{question_id, question, image_id, answers[10]}, ...]}
    DATA/TextVQA_Rosetta_OCR_v0.2_val.json   {"data": [{image_id, ocr_tokens}, ...]} (for OCR prompts)
    DATA/train_images/<image_id>.jpg
"""

from __future__ import annotations

from pathlib import Path

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.textvqa import textvqa_accuracy
from .base import SHORT_ANSWER, Benchmark, PromptStyle, percent, predictions_for, read_json, write_json
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
    return {str(e["image_id"]): list(e["ocr_tokens"]) for e in read_json(path)["data"]}


def build_prompt(question: str, ocr_tokens: list[str] | None, capitalize: bool) -> str:
    text = question.capitalize() if capitalize else question
    if ocr_tokens:
        text += "\nReference OCR token: " + ", ".join(ocr_tokens)
    return f"{text}\n{SHORT_ANSWER}"


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    entries = read_json(data_dir / ANNOTATIONS)["data"]
    ocr = _ocr_by_image(data_dir) if style.ocr else {}
    samples = []
    for e in entries:
        tokens = ocr.get(str(e["image_id"]), []) if style.ocr else None
        samples.append(
            Sample(
                id=str(e["question_id"]),
                prompt=build_prompt(e["question"], tokens, capitalize=style.protocol == "lmms-eval"),
                load_images=file_loader(data_dir / IMAGE_DIR / f"{e['image_id']}.jpg"),
                decoding=style.decoding,
                meta={"answers": e.get("answers")},
            )
        )
    return samples


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


BENCHMARK = Benchmark("textvqa", STYLES, load, score, prepare)
