"""Recognising official MGM folders: local folders, hub snapshots, and refusing folders that are not MGM at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..configuration import MiniGeminiConfig
from .fields import OFFICIAL_LLM_TYPES, CheckpointError


def read_config(path: Path) -> dict:
    cfg = path / "config.json"
    if not cfg.exists():
        raise CheckpointError(f"{path}: no config.json. Pass a checkpoint folder (ours or an official MGM one).")
    return json.loads(cfg.read_text())


def is_official_checkpoint(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "config.json").exists() and read_config(path).get("model_type") in OFFICIAL_LLM_TYPES


def local_checkpoint(name_or_path: str | os.PathLike) -> Path | None:
    """A local folder for `name_or_path`: the folder itself, or, for a hub id whose config says it is an
    official MGM checkpoint, a snapshot download of it (None for other hub ids: transformers handles those)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.is_absolute() or str(name_or_path).count("/") != 1:
        return None
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        config = json.loads(Path(hf_hub_download(str(name_or_path), "config.json")).read_text())
    except Exception:  # offline, missing or gated: let transformers report it in its own words
        return None
    if config.get("model_type") not in OFFICIAL_LLM_TYPES:
        return None
    return Path(snapshot_download(str(name_or_path), allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.bin"]))


def check_model_type(path: str | os.PathLike) -> None:
    """Refuse a local folder that is neither ours nor an official MGM checkpoint, before building anything."""
    path = Path(path)
    if not (path / "config.json").exists():
        return
    model_type = read_config(path).get("model_type")
    if model_type != MiniGeminiConfig.model_type and model_type not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(
            f"{path}: model_type {model_type!r} is neither 'minigemini' nor an official MGM type "
            f"({', '.join(sorted(OFFICIAL_LLM_TYPES))}). Point --model at a Mini-Gemini checkpoint."
        )
