"""MMMU in its published layout, the hub repository itself: DATA/<Subject>/validation-*.parquet.

Columns used: id, question, options (a Python-literal list), answer, question_type, image_1..image_7.

Answer files: ours, or MGM's `MMMU/eval/run_llava.py` output (one row per question: `id`, `question_type`,
`answer`, `response`, `parsed_pred`[, `index2ans`]). Scoring re-parses `response` with the official parsers;
a multiple-choice reply that names no option gets the official seeded random pick, which can differ from the
`parsed_pred` the original run drew from its own random stream.
"""

from __future__ import annotations

import ast
import random
import re
import shutil
from collections import defaultdict
from pathlib import Path

from ..images import bytes_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.mmmu import (
    OFFICIAL_SEED,
    eval_multi_choice,
    eval_open,
    parse_multi_choice_response,
    parse_open_response,
    subject_domain,
)
from .base import LETTER_ANSWER, OWN_SHAPE, SHORT_ANSWER, Benchmark, PromptStyle, match_by_id, percent, predictions_for
from .hub import image_bytes, read_hub_split

SPLIT = "validation"
MULTIPLE_CHOICE = "multiple-choice"
IMAGE_TAG = re.compile(r"<image (\d+)>")

STYLES = {
    "official": PromptStyle(
        "official",
        "MMMU configs/llava1.5.yaml: '{q}\\n\\n(A) opt\\n...\\n\\n' + letter instruction, or short-answer instruction; image_1 only",
        Decoding(max_new_tokens=128, do_sample=True, temperature=1.0, num_beams=5, seed=OFFICIAL_SEED),
    ),
    "lmms-eval": PromptStyle(
        "lmms-eval",
        "lmms-eval mmmu_val: '{q}\\nA. opt\\n...\\n\\n' + letter instruction; every <image n> the text cites",
        Decoding(max_new_tokens=128),
    ),
}


def _letters(options: list[str]) -> list[str]:
    return [chr(ord("A") + i) for i in range(len(options))]


def build_prompt(row: dict, options: list[str], protocol: str) -> str:
    question = row["question"]
    if row["question_type"] != MULTIPLE_CHOICE:
        return f"{question}\n\n{SHORT_ANSWER}"
    if protocol == "lmms-eval":
        listed = "\n".join(f"{letter}. {option}" for letter, option in zip(_letters(options), options))
        return f"{question}\n{listed}\n\n{LETTER_ANSWER}"
    listed = "".join(f"({letter}) {option}\n" for letter, option in zip(_letters(options), options))
    return f"{question}\n\n{listed}\n\n{LETTER_ANSWER}"


def _image_cells(row: dict, options: list[str], protocol: str) -> list:
    if protocol == "official":
        return [row["image_1"]]
    cited = sorted({int(n) for n in IMAGE_TAG.findall(row["question"] + " ".join(options))})
    return [row[f"image_{n}"] for n in cited if row.get(f"image_{n}") is not None]


def gold_answer(answer: str) -> str | list[str]:
    """Open answers stored as a list literal ("['24/7', '3.43']") become lists, as in the official answer dict."""
    text = str(answer).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, list):
            return [str(v) for v in value]
    return text


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    folders = sorted(data_dir.iterdir()) if data_dir.is_dir() else []
    subjects = [p.name for p in folders if p.is_dir() and not p.name.startswith(".")]
    samples = []
    for subject in subjects:
        subject_domain(subject)
        for row in read_hub_split(data_dir, SPLIT, subdir=subject).to_dict("records"):
            options = [str(o) for o in ast.literal_eval(row["options"])] if row["options"] else []
            blobs = [image_bytes(cell) for cell in _image_cells(row, options, style.protocol)]
            samples.append(
                Sample(
                    id=str(row["id"]),
                    prompt=build_prompt(row, options, style.protocol),
                    load_images=bytes_loader(*blobs),
                    decoding=style.decoding,
                    meta={
                        "subject": subject,
                        "question_type": row["question_type"],
                        "answer": gold_answer(row["answer"]),
                        "options": options,
                    },
                )
            )
    if not samples:
        raise FileNotFoundError(f"no MMMU subject folders with {SPLIT} parquet under {data_dir}")
    return samples


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    rng = random.Random(OFFICIAL_SEED)
    by_subject: dict[str, list[float]] = defaultdict(list)
    for sample, response in predictions_for(samples, predictions):
        options = sample.meta["options"]
        if sample.meta["question_type"] == MULTIPLE_CHOICE:
            letters = _letters(options)
            choice = parse_multi_choice_response(response, letters, dict(zip(letters, options)), rng)
            correct = eval_multi_choice(sample.meta["answer"], choice)
        else:
            correct = eval_open(sample.meta["answer"], parse_open_response(response))
        by_subject[sample.meta["subject"]].append(float(correct))
    by_domain: dict[str, list[float]] = defaultdict(list)
    for subject, flags in by_subject.items():
        by_domain[subject_domain(subject)].extend(flags)
    categories = {name: {"accuracy": percent(flags)} for name, flags in {**by_domain, **by_subject}.items()}
    every = [f for flags in by_subject.values() for f in flags]
    return BenchmarkScore(metrics={"accuracy": percent(every)}, categories=categories, counts={"questions": len(every)})


def prepare(source: Path, out: Path) -> Path:
    """MMMU/MMMU keeps its own layout: copy each subject's validation shards."""
    shards = sorted(source.glob(f"*/{SPLIT}-*.parquet"))
    if not shards:
        raise FileNotFoundError(f"no <Subject>/{SPLIT}-*.parquet under {source}; point --source at the MMMU/MMMU folder")
    for shard in shards:
        subject_domain(shard.parent.name)
        (out / shard.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shard, out / shard.parent.name / shard.name)
    return out


def match(samples: list[Sample], rows: list[tuple[int, dict]], data_dir: Path) -> dict[str, str]:
    """Our rows (`question_id`, `text`) or MGM run_llava rows (`id`, `response`)."""
    return match_by_id(samples, rows, data_dir, shapes=(("id", "response"), OWN_SHAPE))


BENCHMARK = Benchmark("mmmu", STYLES, load, score, prepare, match=match)
