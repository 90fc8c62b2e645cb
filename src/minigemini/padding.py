"""The one padding helper: ragged token rows -> a padded [B, W] tensor and its attention mask."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_rows(rows: Sequence, pad_value: int, side: str = "left") -> tuple[torch.Tensor, torch.Tensor]:
    """Rows (1-D tensors or lists of ints) -> (padded [B, W] long tensor, attention mask [B, W], 1 on real tokens).

    `side` is "left" (generation: every row ends at the same column) or "right" (training).
    """
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    rows = [torch.as_tensor(row, dtype=torch.long) for row in rows]
    width = max((len(row) for row in rows), default=0)
    padded = torch.full((len(rows), width), pad_value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        columns = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        padded[i, columns] = row
        mask[i, columns] = 1
    return padded, mask
