"""Run a benchmark with a predictor (resumable) and score predictions files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm import tqdm

from .answer_file import AnswerWriter, read_answer_rows, read_answers
from .benchmarks import get_benchmark
from .benchmarks.base import Benchmark, PromptStyle
from .judge import Judge
from .predictor import EvalRequest, Predictor
from .report import print_table, results_record, write_results
from .sample import Sample, ScoreContext


def answers_path(out_dir: Path, bench: str) -> Path:
    return Path(out_dir) / f"{bench}_answers.jsonl"


def results_path(out_dir: Path, bench: str) -> Path:
    return Path(out_dir) / f"{bench}_results.json"


def _load_samples(
    benchmark: Benchmark, style: PromptStyle, data_dir: Path, limit: int | None, scoring_only: bool = False
) -> list[Sample]:
    load = (benchmark.load_for_scoring or benchmark.load) if scoring_only else benchmark.load
    samples = load(Path(data_dir), style)
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise ValueError(f"duplicate question id {sample.id!r} in {data_dir}; ids must be unique")
        seen.add(sample.id)
    return samples[:limit] if limit is not None else samples


def _check_same_model(done: dict[str, dict], model_id: str, path: Path) -> None:
    others = {row.get("model_id") for row in done.values()} - {model_id}
    if others:
        raise ValueError(
            f"{path} holds answers from {sorted(map(str, others))}, not {model_id!r}; use another --out folder"
        )


def predict_all(samples: list[Sample], predictor: Predictor, path: Path, batch_size: int, progress: bool) -> None:
    """Ask the predictor every sample not yet in `path`, appending one flushed batch at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    done = read_answers(path)
    _check_same_model(done, predictor.model_id, path)
    todo = [s for s in samples if s.id not in done]
    # disable=None: a bar on a terminal only, never carriage-return noise in logs
    bar = tqdm(total=len(samples), initial=len(samples) - len(todo), disable=None if progress else True)
    with AnswerWriter(path) as writer, bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            texts = predictor.predict([EvalRequest(s.prompt, s.load_images(), s.decoding) for s in batch])
            if len(texts) != len(batch):
                raise RuntimeError(f"predictor returned {len(texts)} answers for {len(batch)} requests")
            rows = [{"question_id": s.id, "prompt": s.prompt, "text": t, "model_id": predictor.model_id} for s, t in zip(batch, texts)]
            writer.write_batch(rows)
            bar.update(len(batch))


def _score(
    benchmark: Benchmark,
    style: PromptStyle,
    samples: list[Sample],
    predictions_file: Path,
    data_dir: Path,
    out_dir: Path,
    judge: Judge | None,
    show: bool,
) -> dict[str, Any]:
    rows = read_answer_rows(predictions_file)
    model = next((str(r["model_id"]) for _, r in rows if r.get("model_id")), "unknown")
    texts = benchmark.match(samples, rows, Path(data_dir))
    score = benchmark.score(samples, texts, ScoreContext(out_dir, judge))
    judge_record = judge.describe() if judge else None
    record = results_record(benchmark.name, model, style.describe(), judge_record, score, predictions_file)
    write_results(record, results_path(out_dir, benchmark.name))
    if show:
        print_table(record)
    return record


def run_benchmark(
    bench: str,
    predictor: Predictor,
    data_dir: str | Path,
    out_dir: str | Path,
    protocol: str = "official",
    batch_size: int = 1,
    limit: int | None = None,
    judge: Judge | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict (resuming any earlier partial run in `out_dir`), score, write and print the results."""
    benchmark = get_benchmark(bench)
    style = benchmark.style(protocol)
    if benchmark.needs_judge and judge is None:
        raise ValueError(f"{bench} is scored by a judge LLM: pass judge= (CLI: --judge-model, --judge-base-url)")
    out_dir = Path(out_dir)
    samples = _load_samples(benchmark, style, Path(data_dir), limit)
    path = answers_path(out_dir, bench)
    predict_all(samples, predictor, path, batch_size, progress)
    return _score(benchmark, style, samples, path, Path(data_dir), out_dir, judge, progress)


def score_predictions(
    bench: str,
    data_dir: str | Path,
    predictions_file: str | Path,
    out_dir: str | Path | None = None,
    protocol: str = "official",
    judge: Judge | None = None,
    limit: int | None = None,
    show: bool = True,
) -> dict[str, Any]:
    """Score an existing predictions file (no model needed); results go next to it unless `out_dir` is given.

    Use the same `limit` as the run that wrote the file."""
    benchmark = get_benchmark(bench)
    style = benchmark.style(protocol)
    predictions_file = Path(predictions_file)
    if not predictions_file.is_file():
        raise FileNotFoundError(f"predictions file {predictions_file} not found")
    samples = _load_samples(benchmark, style, Path(data_dir), limit, scoring_only=True)
    out = Path(out_dir) if out_dir else predictions_file.parent
    return _score(benchmark, style, samples, predictions_file, Path(data_dir), out, judge, show)

