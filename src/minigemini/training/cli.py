"""`minigemini train` and `minigemini merge-lora` (a typer app the top-level CLI mounts)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Train Mini-Gemini (two-stage MGM recipe) and merge LoRA adapters.", no_args_is_help=True)


@app.command()
def train(
    recipe: Path = typer.Option(..., "--recipe", help="Recipe YAML (see recipes/)."),
    output_dir: Path = typer.Option(..., "--output-dir", help="Logs, checkpoints and final/ go here."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a recipe key: --set train.lr=1e-4 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoints/latest."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an earlier run's outputs in OUTPUT_DIR and start over."),
    accept_recipe_change: bool = typer.Option(
        False, "--accept-recipe-change", help="Resume even though the recipe differs from the checkpoint's (a warning names the fields)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first bad data row instead of skipping it."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train one stage (align or instruct) as the recipe says; works alone, under torchrun or accelerate launch."""
    from .output_dir import RunDirError
    from .recipe import RecipeError, load_recipe
    from .trainer import run_training

    try:
        parsed = load_recipe(recipe, set_ or [])
    except RecipeError as e:
        typer.echo(f"recipe error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        result = run_training(
            parsed, output_dir, resume=resume, progress=progress, strict=strict, overwrite=overwrite,
            accept_recipe_change=accept_recipe_change,
        )
    except RunDirError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if result.losses:
        typer.echo(f"done: {result.steps} steps, final loss {result.losses[-1]:.4f}; model in {result.final_dir}")


@app.command("merge-lora")
def merge_lora_cmd(
    adapter_dir: Path = typer.Argument(..., help="A LoRA run's final-lora/ folder."),
    out_dir: Path = typer.Argument(..., help="Where to write the merged from_pretrained folder."),
) -> None:
    """Fold a LoRA adapter into its base model and save a plain from_pretrained folder."""
    from .lora import merge_lora

    typer.echo(f"merged model written to {merge_lora(adapter_dir, out_dir)}")


if __name__ == "__main__":
    app()
