"""GQA testdev-balanced in its published layout.

    DATA/testdev_balanced_questions.json   {qid: {imageId, question, answer, types: {structural, ...}}}
    DATA/images/<imageId>.jpg

Answer files: LLaVA's `model_vqa_loader` on llava_gqa_testdev_balanced.jsonl writes `question_id` = the GQA
question id and `text`, as ours do; `convert_gqa_for_eval.py`'s normalisation is in `scorers.gqa`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.gqa import gqa_correct
from .base import SHORT_ANSWER, Benchmark, PromptStyle, percent, predictions_for, read_json, write_json
from .hub import plain, read_hub_split, write_image

ANNOTATIONS = "testdev_balanced_questions.json"

STYLES = {
    "official": PromptStyle("official", "LLaVA llava_gqa_testdev_balanced: question + short-answer instruction", Decoding(max_new_tokens=128)),
    "lmms-eval": PromptStyle("lmms-eval", "lmms-eval gqa: question + short-answer instruction", Decoding(max_new_tokens=16)),
}


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    return [
        Sample(
            id=str(qid),
            prompt=f"{entry['question']}\n{SHORT_ANSWER}",
            load_images=file_loader(data_dir / "images" / f"{entry['imageId']}.jpg"),
            decoding=style.decoding,
            meta={"answer": entry["answer"], "structural": (entry.get("types") or {}).get("structural")},
        )
        for qid, entry in read_json(data_dir / ANNOTATIONS, "the GQA questions and answers").items()
    ]


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    by_type: dict[str, list[float]] = defaultdict(list)
    flags = []
    for sample, prediction in predictions_for(samples, predictions):
        correct = float(gqa_correct(prediction, sample.meta["answer"]))
        flags.append(correct)
        if sample.meta["structural"]:
            by_type[sample.meta["structural"]].append(correct)
    return BenchmarkScore(
        metrics={"accuracy": percent(flags)},
        categories={t: {"accuracy": percent(v)} for t, v in sorted(by_type.items())},
        counts={"questions": len(flags)},
    )


def prepare(source: Path, out: Path) -> Path:
    """lmms-lab/GQA (testdev_balanced_instructions + testdev_balanced_images, split 'testdev') -> layout."""
    questions = read_hub_split(source, "testdev", subdir="testdev_balanced_instructions")
    images = read_hub_split(source, "testdev", subdir="testdev_balanced_images")
    for row in images.to_dict("records"):
        write_image(row["image"], out / "images" / f"{row['id']}.jpg")
    entries = {
        str(row["id"]): {
            "imageId": str(row["imageId"]),
            "question": row["question"],
            "answer": row["answer"],
            "types": plain(row.get("types")) or {},
        }
        for row in questions.to_dict("records")
    }
    write_json(out / ANNOTATIONS, entries)
    return out


BENCHMARK = Benchmark("gqa", STYLES, load, score, prepare)
