"""`minigemini eval ...`: run, prepare and score benchmarks.

Mount with `main_app.add_typer(app, name="eval")`; this gives
`minigemini eval <bench> --model M --data D`, `minigemini eval prepare <bench> --source S --out D`
and `minigemini eval score <bench> --data D --predictions F`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from ..loading import DTYPE_HELP, QUANTIZE_HELP
from .benchmarks import BENCHMARKS, PROTOCOLS, get_benchmark
from .judge import Judge, judge_from_settings
from .runner import run_benchmark, score_predictions

app = typer.Typer(help="Evaluate on the Mini-Gemini paper's benchmarks (official-equivalent scoring).", no_args_is_help=True)

PROTOCOL_HELP = f"Prompt/decoding protocol: {' or '.join(PROTOCOLS)} (official = the MGM scripts)."
JUDGE_MODEL_HELP = "Judge LLM for MM-Vet grading and MathVista extraction (key from MINIGEMINI_JUDGE_API_KEY or OPENAI_API_KEY)."
JUDGE_URL_HELP = "OpenAI-compatible base URL of the judge (default: OpenAI)."


def _judge(model: Optional[str], base_url: Optional[str]) -> Judge | None:
    return judge_from_settings(model, base_url) if model else None


def _fail_cleanly(action: Callable[[], object]) -> None:
    try:
        action()
    except (ValueError, FileNotFoundError, ImportError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from error


@app.command("prepare")
def prepare_command(
    bench: str = typer.Argument(..., help=f"One of: {', '.join(BENCHMARKS)}."),
    source: Path = typer.Option(..., "--source", help="Local copy of the benchmark's Hugging Face dataset repository."),
    out: Path = typer.Option(..., "--out", help="Folder to write the published layout into."),
) -> None:
    """Convert a downloaded hub dataset (parquet) into the benchmark's published layout."""

    def action() -> None:
        path = get_benchmark(bench).prepare(source, out)
        typer.echo(f"{bench} prepared in {path}")

    _fail_cleanly(action)


@app.command("score")
def score_command(
    bench: str = typer.Argument(..., help=f"One of: {', '.join(BENCHMARKS)}."),
    data: Path = typer.Option(..., "--data", help="Benchmark folder in its published layout."),
    predictions: Path = typer.Option(..., "--predictions", help="Answers JSONL written by a run."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default: next to the predictions)."),
    protocol: str = typer.Option("official", "--protocol", help=PROTOCOL_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", help="The --limit the run used, if any."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help=JUDGE_MODEL_HELP),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help=JUDGE_URL_HELP),
) -> None:
    """Re-score a predictions file without a model."""
    _fail_cleanly(
        lambda: score_predictions(
            bench, data, predictions, out, protocol=protocol, judge=_judge(judge_model, judge_base_url), limit=limit
        )
    )


def _run_command(bench: str) -> Callable[..., None]:
    def command(
        model: Path = typer.Option(..., "--model", help="minigemini checkpoint folder."),
        data: Path = typer.Option(..., "--data", help="Benchmark folder in its published layout."),
        out: Path = typer.Option(Path("eval_results"), "--out", help="Folder for answers and results (resumable)."),
        protocol: str = typer.Option("official", "--protocol", help=PROTOCOL_HELP),
        batch_size: int = typer.Option(1, "--batch-size", min=1, help="Questions per generate call."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N questions."),
        device: str = typer.Option("cpu", "--device", help="torch device, e.g. cuda."),
        dtype: str = typer.Option("auto", "--dtype", help=DTYPE_HELP),
        quantize: str = typer.Option("none", "--quantize", help=QUANTIZE_HELP),
        judge_model: Optional[str] = typer.Option(None, "--judge-model", help=JUDGE_MODEL_HELP),
        judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help=JUDGE_URL_HELP),
    ) -> None:
        def action() -> None:
            from ..loading import load_model
            from ..quiet import quiet_transformers
            from .model_predictor import ModelPredictor

            judge = _judge(judge_model, judge_base_url)
            with quiet_transformers():  # its 'Loading weights' bar and advice concern us, not the user
                predictor = ModelPredictor(*load_model(str(model), device, dtype, quantize=quantize), model_id=str(model))
            run_benchmark(bench, predictor, data, out, protocol=protocol, batch_size=batch_size, limit=limit, judge=judge)

        _fail_cleanly(action)

    command.__doc__ = f"Run {bench} with a model, then score it."
    return command


for _name in BENCHMARKS:
    app.command(_name)(_run_command(_name))
