"""Reading a local copy of a Hugging Face hub dataset (parquet shards) for `prepare`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def read_hub_split(source: Path, split: str, subdir: str | None = None):
    """All parquet shards of `split` (files named `<split>-*.parquet` or `<split>.parquet`) as one DataFrame."""
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError("`eval prepare` reads parquet: pip install 'minigemini[eval]' (pandas, pyarrow)") from error
    root = source / subdir if subdir else source
    shards = sorted(set(root.rglob(f"{split}-*.parquet")) | set(root.rglob(f"{split}.parquet")))
    if not shards:
        found = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.parquet"))[:8]
        raise FileNotFoundError(
            f"no '{split}' parquet shards under {root}; found {found or 'no parquet files'}. "
            "Point --source at the downloaded dataset repository folder."
        )
    return pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)


def image_bytes(cell: Any) -> bytes:
    """Encoded bytes of a hub image cell ({'bytes': ..., 'path': ...} or raw bytes)."""
    if isinstance(cell, (bytes, bytearray)):
        return bytes(cell)
    if isinstance(cell, dict) and cell.get("bytes"):
        return bytes(cell["bytes"])
    raise ValueError(f"image cell holds no bytes ({type(cell).__name__}); re-download the dataset's parquet files")


def write_image(cell: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(cell))


def plain(value: Any) -> Any:
    """Numpy arrays, scalars and NaN placeholders from parquet turned into JSON-friendly Python values."""
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
