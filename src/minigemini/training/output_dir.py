"""The run's output folder: refuse to mix two runs in one folder, and refuse a resume whose recipe changed."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from .metrics import LOG_FILE
from .recipe import recipe_changes
from .stages import ADAPTER_FILE

RUN_OUTPUTS = (
    "checkpoints", "final", "final-lora", "tensorboard", "wandb",
    LOG_FILE, "loss.png", "bad_samples.json", "recipe.yaml", ADAPTER_FILE,
)
"""What `run_training` writes into its folder; `overwrite` deletes exactly these."""


class RunDirError(ValueError):
    """The output folder cannot take this run; the message names the fix."""


def prepare_output_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Raise `RunDirError` when `out` holds anything and neither `resume` nor `overwrite` is set."""
    if resume and overwrite:
        raise RunDirError("--resume continues the run in the output folder and --overwrite deletes it; choose one.")
    if resume or overwrite or not out.exists():
        return
    if not out.is_dir():
        raise RunDirError(f"output dir {out} is a file; choose a folder.")
    found = sorted(p.name for p in out.iterdir())
    if found:
        shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        raise RunDirError(
            f"output dir {out} is not empty ({shown}); pass --resume to continue the run in it "
            "or --overwrite to delete its run outputs and start over."
        )


def remove_run_outputs(out: Path) -> None:
    """Delete what an earlier run wrote into `out` (only the names in `RUN_OUTPUTS`)."""
    for name in RUN_OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def check_recipe_unchanged(saved: dict | None, current: dict, checkpoint: Path, accept: bool) -> None:
    """Raise `RunDirError` naming the changed recipe fields (a warning instead when `accept`)."""
    if saved is None:
        return
    changed = recipe_changes(saved, current)
    if not changed:
        return
    message = f"the recipe differs from the one that wrote {checkpoint} in: {', '.join(changed)}"
    if not accept:
        raise RunDirError(f"{message}; resume with that recipe, or pass --accept-recipe-change to resume with this one.")
    warnings.warn(f"{message}; resuming with the new recipe (--accept-recipe-change).", stacklevel=3)
