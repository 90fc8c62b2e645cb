"""POPE (COCO) in its published layout.

    DATA/coco_pope_{adversarial,popular,random}.json   one JSON per line: question_id, image, text, label
    DATA/val2014/<image>
    DATA/llava_pope_test.jsonl   (only to score official answer files) LLaVA's question file: question_id, category

Answer files: ours (`question_id` = "<category>/<id>") or LLaVA/MGM `model_vqa_loader` on llava_pope_test.jsonl
(`question_id` from that file). `eval_pope.py` finds each official row's category through the question file and
pairs a category's rows, in file order, with the lines of coco_pope_<category>.json; `match` does the same.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.pope import pope_metrics
from .base import SHORT_ANSWER, AnswerRows, Benchmark, PromptStyle, answer_field, predictions_for, split_own_rows
from .hub import read_hub_split, write_image

CATEGORIES = ("adversarial", "popular", "random")
IMAGE_DIR = "val2014"
PERCENT_METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")
QUESTION_FILE = "llava_pope_test.jsonl"

STYLES = {
    "official": PromptStyle("official", "LLaVA llava_pope_test: question + short-answer instruction", Decoding(max_new_tokens=128)),
    "lmms-eval": PromptStyle("lmms-eval", "lmms-eval pope: question + short-answer instruction", Decoding(max_new_tokens=128)),
}


def label_file(data_dir: Path, category: str) -> Path:
    return data_dir / f"coco_pope_{category}.json"


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    samples = []
    for category in CATEGORIES:
        path = label_file(data_dir, category)
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            samples.append(
                Sample(
                    id=f"{category}/{item['question_id']}",
                    prompt=f"{item['text']}\n{SHORT_ANSWER}",
                    load_images=file_loader(data_dir / IMAGE_DIR / item["image"]),
                    decoding=style.decoding,
                    meta={"category": category, "label": item["label"]},
                )
            )
    if not samples:
        raise FileNotFoundError(
            f"no {label_file(data_dir, 'random').name} (or other categories; the questions and labels) in {data_dir}"
        )
    return samples


def _categories_of_questions(data_dir: Path) -> dict[str, str]:
    path = data_dir / QUESTION_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found (needed to score official POPE answer files: their question_id refers to LLaVA's "
            f"{QUESTION_FILE}, which says each question's category); copy it into {data_dir}"
        )
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {str(q["question_id"]): str(q["category"]) for q in map(json.loads, lines)}


def match(samples: list[Sample], rows: AnswerRows, data_dir: Path) -> dict[str, str]:
    """Our rows by id; official rows per category in file order, paired with that category's labels (eval_pope.py)."""
    found, official = split_own_rows(samples, rows)
    if not official:
        return found
    category_of = _categories_of_questions(data_dir)
    texts: dict[str, list[str]] = defaultdict(list)
    for number, row in official:
        question_id = str(answer_field(number, row, "question_id"))
        if question_id not in category_of:
            raise ValueError(f"answer row at line {number}: question_id {question_id} is not in {QUESTION_FILE}")
        texts[category_of[question_id]].append(str(answer_field(number, row, "text")))
    for category, answers in texts.items():
        in_category = [s for s in samples if s.meta["category"] == category]
        found.update((sample.id, text) for sample, text in zip(in_category, answers))
    return found


def _as_percent(metrics: dict[str, float]) -> dict[str, float]:
    return {k: 100.0 * metrics[k] for k in PERCENT_METRICS}


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    pairs = predictions_for(samples, predictions)
    by_category: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for sample, prediction in pairs:
        preds, labels = by_category[sample.meta["category"]]
        preds.append(prediction)
        labels.append(sample.meta["label"])
    categories = {c: _as_percent(pope_metrics(p, l)) for c, (p, l) in by_category.items()}
    overall = pope_metrics([p for _, p in pairs], [s.meta["label"] for s, _ in pairs])
    return BenchmarkScore(metrics=_as_percent(overall), categories=categories, counts={"questions": len(pairs)})


def prepare(source: Path, out: Path) -> Path:
    """lmms-lab/POPE (test parquet) -> coco_pope_<category>.json + val2014/."""
    frame = read_hub_split(source, "test")
    lines: dict[str, list[str]] = defaultdict(list)
    for row in frame.to_dict("records"):
        image = f"{row['image_source']}.jpg"
        if not (out / IMAGE_DIR / image).exists():
            write_image(row["image"], out / IMAGE_DIR / image)
        item = {"question_id": int(row["question_id"]), "image": image, "text": row["question"], "label": row["answer"]}
        lines[str(row["category"])].append(json.dumps(item))
    for category, rows in lines.items():
        label_file(out, category).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


BENCHMARK = Benchmark("pope", STYLES, load, score, prepare, match=match)
