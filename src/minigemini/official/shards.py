"""Reading checkpoint files: the shard list of a folder, tensor shapes from headers, and the tensors.

Never unpickles: safetensors, or `.bin` through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from .fields import CheckpointError

_LAYOUTS = (("model.safetensors.index.json", "model.safetensors"), ("pytorch_model.bin.index.json", "pytorch_model.bin"))


def shard_files(path: Path) -> list[Path]:
    """The weight files of a checkpoint folder: the shards its index lists, else its single file."""
    for index_name, single in _LAYOUTS:
        index = path / index_name
        if index.exists():
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            for name in names:
                if not (path / name).exists():
                    raise CheckpointError(f"{path}: shard {name} listed in {index_name} is missing. Re-download the checkpoint.")
            return [path / n for n in names]
        if (path / single).exists():
            return [path / single]
    raise CheckpointError(f"{path}: no model.safetensors(.index.json) or pytorch_model.bin(.index.json) found.")


def _load_bin(file: Path) -> dict[str, torch.Tensor]:
    try:  # memory-mapped: shapes are free and tensors page in when used
        return torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as err:
        if "mmap" not in str(err):  # legacy (non-zip) files cannot be mapped; anything else is a real error
            raise
        return torch.load(file, map_location="cpu", weights_only=True)


def _read(files: list[Path], rename: Callable[[str], str | None], shapes_only: bool, dtype: torch.dtype | None) -> dict:
    from safetensors import safe_open

    def value(tensor):
        return tensor if dtype is None else tensor.to(dtype)

    out = {}
    for file in files:  # converted tensors do not hold the file's map: it goes at the end of each file
        if file.suffix == ".safetensors":
            with safe_open(file, framework="pt") as f:
                for key in f.keys():
                    if new := rename(key):
                        out[new] = tuple(f.get_slice(key).get_shape()) if shapes_only else value(f.get_tensor(key))
        else:
            out.update({new: tuple(v.shape) if shapes_only else value(v) for k, v in _load_bin(file).items() if (new := rename(k))})
    return out


def read_tensors(files: list[Path], rename: Callable[[str], str | None], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """All tensors of `files` under `rename(key)` (keys it maps to None are skipped), in `dtype` if given.

    Converting here, one file at a time, means the shards' bf16 and the model's fp32 weights are never all
    resident together (the loader would otherwise convert from a state dict holding every shard)."""
    return _read(files, rename, shapes_only=False, dtype=dtype)


def read_shapes(files: list[Path], rename: Callable[[str], str | None]) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape under `rename(key)`, from safetensors headers (`.bin`: memory-mapped, not read)."""
    return _read(files, rename, shapes_only=True, dtype=None)
