"""Atomic, resumable checkpoints: write into a temp dir, rename, then repoint `latest` (also atomically)."""

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


@dataclass
class TrainerState:
    """Where training stands: optimizer steps done, and the micro-batches consumed in the current epoch."""

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(engine, root: Path, state: TrainerState, info: DistInfo, keep: int) -> Path:
    """Collective. A crash at any point leaves `latest` naming a complete checkpoint (or none)."""
    name = f"step-{state.global_step:08d}"
    tmp, final = root / f".tmp-{name}", root / name
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    engine.save_state(tmp)
    torch.save(_rng_state(), tmp / f"rng-rank{info.rank}.pt")
    barrier()
    if info.is_main:
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state)))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        pointer = root / "latest.tmp"
        pointer.write_text(name)
        os.replace(pointer, root / "latest")
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


def load_checkpoint(engine, path: Path, info: DistInfo) -> TrainerState:
    """Restore weights, optimizer and scheduler; returns the trainer state. Call `restore_rng` last."""
    engine.load_state(path)
    return TrainerState(**json.loads((path / STATE_FILE).read_text()))


def restore_rng(path: Path, info: DistInfo) -> None:
    rng_file = path / f"rng-rank{info.rank}.pt"
    if not rng_file.exists():
        raise FileNotFoundError(f"{rng_file} missing: resume with the same number of processes as the interrupted run.")
    _set_rng_state(torch.load(rng_file, weights_only=False))
