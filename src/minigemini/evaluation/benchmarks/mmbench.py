"""MMBench in its published layout: one tsv (e.g. mmbench_dev_20230712.tsv) with base64 images.

Columns: index, question, hint, A, B, C, D[, E], answer (dev only), category, image, source,
l2-category, comment, split. Circular copies share `index % 1_000_000`; questions that ship
without copies get them here (options rotated, answer letter moved along), as VLMEvalKit does.

Answer files: ours, or LLaVA/MGM `model_vqa_mmbench` rows (`question_id` = the tsv index, plus `round_id`,
`options`, `option_char`). Round 0 answers the tsv row; with `--all-rounds`, round r answers the same options
rotated r times, which is our generated copy index + r * 1e6 (rounds of a question that ships its own copies
are not ours to score and are left out; `convert_mmbench_for_submission.py` would keep only the last round).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ..images import base64_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.mmbench import CIRCULAR_STRIDE, MMBenchAnswer, mmbench_scores
from .base import LETTER_ANSWER, AnswerRows, Benchmark, PromptStyle, answer_field, predictions_for
from .hub import image_bytes, read_hub_split
from .mmbench_submission import write_submission

OPTION_LETTERS = ("A", "B", "C", "D", "E")
CHINESE_LETTER_ANSWER = "请直接回答选项字母。"
LMMS_EVAL_OPTIONS_HEADER = "There are several options:"

STYLES = {
    "official": PromptStyle(
        "official", "LLaVA model_vqa_mmbench --single-pred-prompt: hint, question, '\\nA. option' lines, letter instruction",
        Decoding(max_new_tokens=1024),
    ),
    "lmms-eval": PromptStyle(
        "lmms-eval", "lmms-eval mmbench: 'hint question There are several options:' + 'A. option' lines + letter instruction",
        Decoding(max_new_tokens=1024),
    ),
}


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).lower() in ("", "nan", "none")


def _tsv_path(data: Path) -> Path:
    if data.is_file():
        return data
    tables = sorted(data.glob("*.tsv"))
    if len(tables) != 1:
        raise FileNotFoundError(
            f"expected exactly one MMBench .tsv (the questions, options and answers) in {data}, found {[t.name for t in tables]}"
        )
    return tables[0]


def read_rows(data: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with _tsv_path(data).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _options(row: dict[str, str]) -> list[str]:
    options = []
    for letter in OPTION_LETTERS:
        if _is_blank(row.get(letter)):
            break
        options.append(str(row[letter]))
    return options


def build_prompt(row: dict[str, str], options: list[str], style: PromptStyle, chinese: bool) -> str:
    hint = None if _is_blank(row.get("hint")) else row["hint"]
    lines = [f"{letter}. {text}" for letter, text in zip(OPTION_LETTERS, options)]
    if style.protocol == "lmms-eval":
        head = f"{hint} {row['question']}" if hint else row["question"]
        return f"{head} {LMMS_EVAL_OPTIONS_HEADER}\n" + "\n".join(lines) + f"\n{LETTER_ANSWER}"
    text = f"{hint}\n{row['question']}" if hint else row["question"]
    text += "".join("\n" + line for line in lines)
    return text + "\n" + (CHINESE_LETTER_ANSWER if chinese else LETTER_ANSWER)


def _with_rotations(rows: list[dict[str, str]]) -> list[tuple[int, dict[str, str], list[str], str | None]]:
    """(index, row, options, answer) for every pass, adding rotations for questions that have no copies."""
    has_copies = {int(r["index"]) % CIRCULAR_STRIDE for r in rows if int(r["index"]) >= CIRCULAR_STRIDE}
    passes = []
    for row in rows:
        index, options = int(row["index"]), _options(row)
        answer = None if _is_blank(row.get("answer")) else row["answer"].strip()
        passes.append((index, row, options, answer))
        if index >= CIRCULAR_STRIDE or index in has_copies:
            continue
        for shift in range(1, len(options)):
            rotated = options[shift:] + options[:shift]
            moved = None
            if answer is not None:
                moved = OPTION_LETTERS[(OPTION_LETTERS.index(answer) - shift) % len(options)]
            passes.append((index + shift * CIRCULAR_STRIDE, row, rotated, moved))
    return passes


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    chinese = "cn" in _tsv_path(data_dir).name.lower()
    samples = []
    for index, row, options, answer in _with_rotations(read_rows(data_dir)):
        samples.append(
            Sample(
                id=str(index),
                prompt=build_prompt(row, options, style, chinese),
                load_images=base64_loader(row["image"]),
                decoding=style.decoding,
                meta={
                    "index": index,
                    "answer": answer,
                    "options": dict(zip(OPTION_LETTERS, options)),
                    "category": row.get("category", ""),
                    "row": {k: v for k, v in row.items() if k != "image"} if str(index) == row["index"] else None,
                },
            )
        )
    return samples


def match(samples: list[Sample], rows: AnswerRows, data_dir: Path) -> dict[str, str]:
    """Sample id -> text: `question_id` (+ `round_id` * 1e6 for later official rounds of our generated copies)."""
    generated = {s.id for s in samples if s.meta["row"] is None}
    found: dict[str, str] = {}
    for number, row in rows:
        index, round_id = int(answer_field(number, row, "question_id")), int(row.get("round_id") or 0)
        sample_id = str(index + round_id * CIRCULAR_STRIDE)
        if round_id and (index >= CIRCULAR_STRIDE or sample_id not in generated):
            continue
        found[sample_id] = str(answer_field(number, row, "text"))
    return found


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    pairs = predictions_for(samples, predictions)
    result = BenchmarkScore(metrics={}, counts={"passes": len(pairs)})
    try:
        result.files["submission"] = str(write_submission(pairs, context.out_dir / "mmbench_submission.xlsx"))
    except ImportError as error:
        result.notes.append(str(error))
    if any(s.meta["answer"] is None for s, _ in pairs):
        result.notes.append("no answers in the tsv (test split): submit the xlsx to the official server")
        return result
    answers = [
        MMBenchAnswer(s.meta["index"], s.meta["category"], s.meta["answer"], p, s.meta["options"]) for s, p in pairs
    ]
    overall, categories, unparsed = mmbench_scores(answers)
    result.metrics, result.categories = overall, categories
    result.counts.update({"questions": len({a.index % CIRCULAR_STRIDE for a in answers}), "unparsed": unparsed})
    return result


def prepare(source: Path, out: Path, subset: str = "en", split: str = "dev") -> Path:
    """lmms-lab/MMBench (<subset>/<split> parquet) -> one tsv with base64 images."""
    import base64

    frame = read_hub_split(source, split, subdir=subset)
    frame["image"] = [base64.b64encode(image_bytes(cell)).decode("ascii") for cell in frame["image"]]
    frame = frame.rename(columns={"L2-category": "l2-category"})
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"mmbench_{split}_{subset}.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return out


BENCHMARK = Benchmark("mmbench", STYLES, load, score, prepare, match=match)
