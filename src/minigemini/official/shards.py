"""Reading checkpoint files: the shard list of a folder, tensor shapes from headers, and the tensors.

Never unpickles: safetensors, or `.bin` through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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


# Pages read through a safetensors map stay resident until the map closes: reopen after this many bytes.
_MAP_BYTES = 256 << 20


def _safetensors(file: Path, rename: Callable[[str], str | None]) -> Iterator[tuple[str, torch.Tensor]]:
    """(renamed key, tensor) for the tensors of `file` that `rename` keeps, through a new map every `_MAP_BYTES`."""
    from safetensors import safe_open

    with safe_open(file, framework="pt") as f:
        keys = [(key, new) for key in f.keys() if (new := rename(key))]
    i = 0
    while i < len(keys):
        with safe_open(file, framework="pt") as f:
            read = 0
            while i < len(keys) and read < _MAP_BYTES:
                tensor = f.get_tensor(keys[i][0])
                read += tensor.numel() * tensor.element_size()
                yield keys[i][1], tensor
                i += 1


def _read(files: list[Path], rename: Callable[[str], str | None], shapes_only: bool, dtype: torch.dtype | None) -> dict:
    from safetensors import safe_open

    out = {}
    for file in files:
        if file.suffix == ".safetensors" and shapes_only:
            with safe_open(file, framework="pt") as f:
                out.update({new: tuple(f.get_slice(key).get_shape()) for key in f.keys() if (new := rename(key))})
        elif file.suffix == ".safetensors":  # converted tensors leave their map: at most _MAP_BYTES resident
            out.update({new: tensor if dtype is None else tensor.to(dtype) for new, tensor in _safetensors(file, rename)})
        else:
            out.update({new: tuple(v.shape) if shapes_only else v if dtype is None else v.to(dtype)
                        for k, v in _load_bin(file).items() if (new := rename(k))})
    return out


def read_tensors(files: list[Path], rename: Callable[[str], str | None], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """All tensors of `files` under `rename(key)` (keys it maps to None are skipped), in `dtype` if given.

    Converting here, as read, means the shards' bf16 and the model's fp32 weights are never all resident
    together (the loader would otherwise convert from a state dict holding every shard): at most `_MAP_BYTES`
    of a safetensors shard (a `.bin` shard: all of it) stays mapped besides the converted tensors."""
    return _read(files, rename, shapes_only=False, dtype=dtype)


def read_shapes(files: list[Path], rename: Callable[[str], str | None]) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape under `rename(key)`, from safetensors headers (`.bin`: memory-mapped, not read)."""
    return _read(files, rename, shapes_only=True, dtype=None)
