"""`minigemini data`: OCR hints, generation instructions, the synthetic fine-detail task and the tiny dataset."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="Prepare data: OCR hints, generation instructions, synthetic tasks.")
console = Console()


def _print_counts(title: str, counts: Counter) -> None:
    parts = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v)
    console.print(f"[bold]{title}:[/] {parts or 'nothing to do'}")


@app.command("ocr-augment")
def ocr_augment_cmd(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="LLaVA JSON/JSONL to read."),
    output: Path = typer.Argument(..., dir_okay=False, help="Where to write (JSON, or JSONL by suffix)."),
    image_root: Path = typer.Option(..., "--image-root", exists=True, file_okay=False, help="Folder the 'image' paths are relative to."),
    turns: str = typer.Option("all", help="Human turns to augment: 'all' (official CLI) or 'first'."),
    min_score: float = typer.Option(0.1, help="Keep OCR texts with confidence above this (official 0.1)."),
) -> None:
    """Append '\\nReference OCR Token: a, b\\n' to human turns of rows with images (resumable)."""
    from .ocr_augment import ocr_augment

    if turns not in ("all", "first"):
        raise typer.BadParameter("use 'all' or 'first'", param_hint="--turns")
    counts = ocr_augment(source, output, image_root, turns=turns, min_score=min_score)
    _print_counts(f"wrote {output}", counts)


@app.command("gen-instructions")
def gen_instructions_cmd(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="Captions (recaption) or conversations (context), JSON/JSONL."),
    output: Path = typer.Argument(..., dir_okay=False, help="LLaVA JSON to write; progress goes to OUTPUT.progress.jsonl."),
    mode: str = typer.Option(..., "--mode", help="'recaption' (captions -> query + SD prompt) or 'context' (conversation -> SD prompt)."),
    base_url: str = typer.Option(..., "--base-url", help="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1."),
    model: str = typer.Option(..., "--model", help="Chat model name at that endpoint."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the API key."),
    sd_examples: list[Path] = typer.Option([], "--sd-examples", exists=True, dir_okay=False, help="Extra example SD prompts (.txt lines, .json/.jsonl); repeatable."),
    query_examples: list[Path] = typer.Option([], "--query-examples", exists=True, dir_okay=False, help="Extra example user requests; repeatable."),
    concurrency: int = typer.Option(4, min=1, help="Parallel requests."),
    timeout: float = typer.Option(60.0, help="Seconds per request."),
    max_retries: int = typer.Option(2, min=0, help="Client retries per request (timeouts, 429, 5xx)."),
    temperature: float = typer.Option(0.7),
    max_tokens: int = typer.Option(512, help="Reply token limit; a cut-off reply counts as 'truncated'."),
    seed: int = typer.Option(0, help="Seeds the per-source choice of examples."),
    limit: int | None = typer.Option(None, help="Only the first N sources."),
    retry_failed: bool = typer.Option(False, help="Also retry sources whose reply had a bad format."),
) -> None:
    """Ask an LLM for generation-instruction data (paper §3.3); resumable, failures counted by reason."""
    from .gen_instructions import ChatSettings, build_generation_data
    from .output_lock import OutputLocked

    if mode not in ("recaption", "context"):
        raise typer.BadParameter("use 'recaption' or 'context'", param_hint="--mode")
    api_key = os.environ.get(api_key_env)
    if not api_key:
        raise typer.BadParameter(
            f"set the API key in ${api_key_env} (or name another variable with --api-key-env); "
            f"servers without auth accept any value, e.g. {api_key_env}=EMPTY",
            param_hint="--api-key-env",
        )
    settings = ChatSettings(base_url=base_url, model=model, api_key=api_key, timeout=timeout,
                            max_retries=max_retries, temperature=temperature, max_tokens=max_tokens)
    try:
        counts = build_generation_data(source, output, mode, settings, sd_examples=sd_examples,
                                       query_examples=query_examples, seed=seed, concurrency=concurrency,
                                       limit=limit, retry_failed=retry_failed)
    except OutputLocked as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    _print_counts(f"wrote {output}", counts)


@app.command("synthetic")
def synthetic_cmd(
    out_dir: Path = typer.Argument(..., file_okay=False, help="Folder to write train.json, test.json and images/ into."),
    seed: int = typer.Option(0, help="Seed of the generated images and questions."),
    n_train: int = typer.Option(2000, min=1, help="Training images."),
    n_test: int = typer.Option(600, min=1, help="Held-out images."),
) -> None:
    """The demo's fine-detail task (textures the LR view turns into flat colour), with its honesty check."""
    from .synthetic import format_report, generate_dataset, honesty_check

    paths = generate_dataset(out_dir, seed=seed, n_train=n_train, n_test=n_test)
    console.print(f"[green]wrote[/] {n_train + n_test} images to {paths.root}")
    console.print(format_report(honesty_check(paths.root)))


@app.command("tiny")
def tiny_cmd(
    out_dir: Path = typer.Argument(Path("tiny-data"), file_okay=False, help="Folder to write align.jsonl, instruct.jsonl, images/."),
    n: int = typer.Option(64, min=1, help="Images to generate."),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """A small LLaVA dataset (coloured squares in quadrants) that the tiny recipes learn in seconds."""
    from .tiny import write_tiny_dataset

    for name, path in write_tiny_dataset(out_dir, n=n, seed=seed).items():
        console.print(f"{name}: {path}")


if __name__ == "__main__":
    app()
