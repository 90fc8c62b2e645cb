"""MathVista testmini in its published layout.

    DATA/testmini.json    {pid: {question, image: "images/<pid>.jpg", choices, unit, precision, answer,
                                 question_type, answer_type, query, metadata: {task, skills, ...}}}
    DATA/images/<pid>.jpg

Answer files: ours, or MGM's `model_math_vista.py` output (one row per problem: the testmini entry plus
`query` and `response`, keyed by `pid`).

Judge extractions are cached in OUT/mathvista_extractions.json, so re-scoring calls the judge only
for replies it has not seen.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.mathvista import MathVistaProblem, extract_answer, mathvista_correct
from .base import OWN_SHAPE, Benchmark, PromptStyle, match_by_id, percent, predictions_for, read_json, write_json
from .hub import plain, read_hub_split, write_image

ANNOTATIONS = "testmini.json"
EXTRACTION_CACHE = "mathvista_extractions.json"

STYLES = {
    "official": PromptStyle(
        "official", "MGM model_math_vista: the dataset's zero-shot 'solution' query (Hint/Question/Choices)", Decoding(max_new_tokens=1024)
    ),
    "lmms-eval": PromptStyle(
        "lmms-eval", "lmms-eval mathvista_testmini_solution: the same 'solution' query, greedy", Decoding(max_new_tokens=1024)
    ),
}


def _problem(entry: dict) -> MathVistaProblem:
    precision = entry.get("precision")
    return MathVistaProblem(
        query=entry["query"],
        question_type=entry["question_type"],
        answer_type=entry["answer_type"],
        choices=list(entry["choices"]) if entry.get("choices") else None,
        precision=int(precision) if precision not in (None, "") else None,
        answer=str(entry.get("answer", "")),
    )


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    problems = read_json(data_dir / ANNOTATIONS, "the MathVista problems and answers")
    samples = []
    for pid, entry in problems.items():
        if "query" not in entry:
            raise ValueError(f"MathVista problem {pid} has no 'query'; regenerate {ANNOTATIONS} with `eval prepare mathvista`")
        samples.append(
            Sample(
                id=str(pid),
                prompt=entry["query"],
                load_images=file_loader(data_dir / entry["image"]),
                decoding=style.decoding,
                meta={"problem": _problem(entry), "metadata": entry.get("metadata") or {}},
            )
        )
    return samples


def _load_cache(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    if context.judge is None:
        raise ValueError("MathVista scoring needs a judge for answer extraction: pass --judge-model (and --judge-base-url)")
    cache_path = context.out_dir / EXTRACTION_CACHE
    cache = _load_cache(cache_path)
    failures = 0
    by_group: dict[str, list[float]] = defaultdict(list)
    flags = []
    for sample, response in predictions_for(samples, predictions):
        problem = sample.meta["problem"]
        cached = cache.get(sample.id)
        if cached is not None and cached["response"] == response:
            extraction = cached["extraction"]
        else:
            extraction, failed = extract_answer(response, problem, context.judge)
            failures += failed
            if not failed:
                cache[sample.id] = {"response": response, "extraction": extraction}
        correct = float(mathvista_correct(extraction, problem))
        flags.append(correct)
        metadata = sample.meta["metadata"]
        if metadata.get("task"):
            by_group[f"task/{metadata['task']}"].append(correct)
        for skill in metadata.get("skills") or []:
            by_group[f"skill/{skill}"].append(correct)
    write_json(cache_path, cache)
    return BenchmarkScore(
        metrics={"accuracy": percent(flags)},
        categories={name: {"accuracy": percent(v)} for name, v in sorted(by_group.items())},
        counts={"questions": len(flags), "judge_failures": failures},
    )


def prepare(source: Path, out: Path) -> Path:
    """AI4Math/MathVista (testmini parquet) -> testmini.json + images/."""
    frame = read_hub_split(source, "testmini")
    problems = {}
    for row in frame.to_dict("records"):
        pid = str(row["pid"])
        image = row.get("image") or f"images/{pid}.jpg"
        write_image(row["decoded_image"], out / image)
        entry = {k: plain(v) for k, v in row.items() if k != "decoded_image"}
        entry.update(pid=pid, image=image)
        problems[pid] = entry
    write_json(out / ANNOTATIONS, problems)
    return out


def match(samples: list[Sample], rows: list[tuple[int, dict]], data_dir: Path) -> dict[str, str]:
    """Our rows (`question_id`, `text`) or MGM model_math_vista rows (`pid`, `response`)."""
    return match_by_id(samples, rows, data_dir, shapes=(("pid", "response"), OWN_SHAPE))


BENCHMARK = Benchmark("mathvista", STYLES, load, score, prepare, needs_judge=True, match=match)
