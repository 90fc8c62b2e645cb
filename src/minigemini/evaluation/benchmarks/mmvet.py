"""MM-Vet in its published layout.

    DATA/mm-vet.json   {"v1_0": {imagename, capability: [...], question, answer}, ...}
    DATA/images/<imagename>

Answer files: ours (`question_id` = "v1_N") or MGM/LLaVA `model_vqa` on llava-mm-vet.jsonl (`question_id` = N,
which `convert_mmvet_for_eval.py` turns into "v1_N").

Scoring grades each answer with a judge and also writes OUT/mmvet_submission.json
({"v1_<qid>": answer}) for the official online grader.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.mmvet import grade
from .base import Benchmark, PromptStyle, answer_field, percent, predictions_for, read_json, write_json
from .hub import plain, read_hub_split, write_image

ANNOTATIONS = "mm-vet.json"
SUBMISSION = "mmvet_submission.json"
LMMS_EVAL_PRE_PROMPT = (
    "First please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
)

STYLES = {
    "official": PromptStyle("official", "MGM model_vqa on llava-mm-vet: the bare question", Decoding(max_new_tokens=1024)),
    "lmms-eval": PromptStyle(
        "lmms-eval", "lmms-eval mmvet default: step-by-step reasoning pre-prompt + question", Decoding(max_new_tokens=1024)
    ),
}


def submission_key(question_id: str) -> str:
    return question_id if question_id.startswith("v1_") else f"v1_{question_id}"


def _capabilities(value) -> list[str]:
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return [str(c) for c in value]


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    samples = []
    for qid, entry in read_json(data_dir / ANNOTATIONS, "the MM-Vet questions and answers").items():
        pre = LMMS_EVAL_PRE_PROMPT if style.protocol == "lmms-eval" else ""
        samples.append(
            Sample(
                id=str(qid),
                prompt=pre + entry["question"],
                load_images=file_loader(data_dir / "images" / entry["imagename"]),
                decoding=style.decoding,
                meta={
                    "question": entry["question"],
                    "answer": entry["answer"],
                    "capabilities": _capabilities(entry["capability"]),
                },
            )
        )
    return samples


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    pairs = predictions_for(samples, predictions)
    submission = context.out_dir / SUBMISSION
    write_json(submission, {submission_key(s.id): p for s, p in pairs})
    if context.judge is None:
        raise ValueError("MM-Vet scoring needs a judge: pass --judge-model (and --judge-base-url)")
    grades: list[float] = []
    by_capability: dict[str, list[float]] = defaultdict(list)
    ungraded = 0
    for sample, prediction in pairs:
        score_value = grade(sample.meta["question"], sample.meta["answer"], prediction, context.judge)
        if score_value is None:
            ungraded += 1
            continue
        grades.append(score_value)
        for capability in sample.meta["capabilities"]:
            by_capability[capability].append(score_value)
    notes = [f"{ungraded} answers could not be graded (judge unreachable) and are left out"] if ungraded else []
    return BenchmarkScore(
        metrics={"total": percent(grades)},
        categories={c: {"score": percent(v)} for c, v in sorted(by_capability.items())},
        counts={"questions": len(pairs), "graded": len(grades), "judge_failures": ungraded},
        files={"submission": str(submission)},
        notes=notes,
    )


def prepare(source: Path, out: Path) -> Path:
    """lmms-lab/MMVet (test parquet) -> mm-vet.json + images/."""
    frame = read_hub_split(source, "test")
    entries = {}
    for row in frame.to_dict("records"):
        qid = submission_key(str(row["question_id"]))
        name = f"{qid}.png"
        write_image(row["image"], out / "images" / name)
        entries[qid] = {
            "imagename": name,
            "capability": _capabilities(plain(row["capability"])),
            "question": row["question"],
            "answer": row["answer"],
        }
    write_json(out / ANNOTATIONS, entries)
    return out


def match(samples: list[Sample], rows: list[tuple[int, dict]], data_dir: Path) -> dict[str, str]:
    """Sample id -> text; an official numeric `question_id` N names sample "v1_N", as convert_mmvet_for_eval does."""
    ids = {s.id for s in samples}
    found = {}
    for number, row in rows:
        qid = str(answer_field(number, row, "question_id"))
        found[qid if qid in ids else submission_key(qid)] = str(answer_field(number, row, "text"))
    return found


BENCHMARK = Benchmark("mmvet", STYLES, load, score, prepare, needs_judge=True, match=match)
