"""The results record (JSON) and the short markdown table printed after a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .sample import BenchmarkScore


def results_record(
    benchmark: str, model: str, protocol: dict[str, Any], judge: dict | None, score: BenchmarkScore, predictions: Path
) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "model": model,
        "protocol": {**protocol, "judge": judge},
        "metrics": score.metrics,
        "categories": score.categories,
        "counts": score.counts,
        "files": {"predictions": str(predictions), **score.files},
        "notes": score.notes,
    }


def write_results(record: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def markdown_table(record: dict[str, Any]) -> str:
    """| benchmark | model | protocol | metric=value ... | as one markdown table row with header."""
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in record["metrics"].items()) or "not scored locally"
    counts = ", ".join(f"{k} {v}" for k, v in record["counts"].items())
    judge = (record["protocol"].get("judge") or {}).get("model", "-")
    return (
        "| benchmark | model | protocol | judge | scores | counts |\n"
        "|---|---|---|---|---|---|\n"
        f"| {record['benchmark']} | {record['model']} | {record['protocol']['name']} | {judge} | {metrics} | {counts} |"
    )


def print_table(record: dict[str, Any]) -> None:
    """Print the markdown source (ready to paste into a results table), then any notes."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    console.print(markdown_table(record), markup=False, highlight=False)
    for note in record["notes"]:
        console.print(f"note: {note}", markup=False, highlight=False)
