"""Atomic, durable, resumable checkpoints: write into a temp dir, fsync, rename, then repoint `latest` (atomically)."""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .distributed import DistInfo, barrier

STATE_FILE = "trainer_state.json"
RECIPE_FILE = "recipe.json"
TMP_PREFIX = ".tmp-step-"


@dataclass
class TrainerState:
    """Where training stands: optimizer steps done, and the micro-batches consumed in the current epoch."""

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


def _rng_state() -> dict:
    """Every RNG as tensors and plain Python values, so `torch.load(weights_only=True)` reads it back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync(path: Path) -> None:
    """Flush a file's or a directory's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):  # files before the folders that list them
        _fsync(path)
    _fsync(root)


def clear_stale_tmp(root: Path) -> None:
    """Remove `.tmp-step-*` folders and a `latest.tmp` left by a run that died mid-save."""
    for tmp in root.glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(tmp, ignore_errors=True)
    (root / "latest.tmp").unlink(missing_ok=True)


def save_checkpoint(engine, root: Path, state: TrainerState, info: DistInfo, keep: int, recipe: dict) -> Path:
    """Collective. A crash (or kill -9, or power loss) at any point leaves `latest` naming a complete checkpoint."""
    name = f"step-{state.global_step:08d}"
    tmp, final = root / f"{TMP_PREFIX}{state.global_step:08d}", root / name
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    engine.save_state(tmp)
    torch.save(_rng_state(), tmp / f"rng-rank{info.rank}.pt")
    barrier()
    if info.is_main:
        (tmp / RECIPE_FILE).write_text(json.dumps(recipe))
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state)))
        _fsync_tree(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fsync(root)
        pointer = root / "latest.tmp"
        pointer.write_text(name)
        _fsync(pointer)
        os.replace(pointer, root / "latest")
        _fsync(root)
        _prune(root, keep)
    barrier()
    return final


def _prune(root: Path, keep: int) -> None:
    if keep <= 0:
        return
    done = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).exists())
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(root: Path) -> Path | None:
    """The checkpoint `latest` names, else the newest complete one; None when there is none."""
    pointer = root / "latest"
    if pointer.exists():
        path = root / pointer.read_text().strip()
        if (path / STATE_FILE).exists():
            return path
    done = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).exists())
    return done[-1] if done else None


def checkpoint_recipe(path: Path) -> dict | None:
    """The recipe (as `Recipe.to_dict()` through JSON) that wrote this checkpoint; None for older checkpoints."""
    file = path / RECIPE_FILE
    return json.loads(file.read_text()) if file.exists() else None


def load_checkpoint(engine, path: Path, info: DistInfo) -> TrainerState:
    """Restore weights, optimizer and scheduler; returns the trainer state. Call `restore_rng` last."""
    engine.load_state(path)
    return TrainerState(**json.loads((path / STATE_FILE).read_text()))


def restore_rng(path: Path, info: DistInfo) -> None:
    rng_file = path / f"rng-rank{info.rank}.pt"
    if not rng_file.exists():
        raise FileNotFoundError(f"{rng_file} missing: resume with the same number of processes as the interrupted run.")
    _set_rng_state(torch.load(rng_file, weights_only=True))
