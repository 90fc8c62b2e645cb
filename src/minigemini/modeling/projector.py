"""The vision-to-LLM projector (`mm_projector` in the official code)."""

from __future__ import annotations

import re

from torch import nn


def build_projector(projector_type: str, in_dim: int, out_dim: int) -> nn.Module:
    """`linear`, `identity` or `mlp{N}x_gelu` (Linear, then N-1 x [GELU, Linear]; state-dict indices 0, 2, ...)."""
    if projector_type == "linear":
        return nn.Linear(in_dim, out_dim)
    if projector_type == "identity":
        if in_dim != out_dim:
            raise ValueError(f"projector_type='identity' needs equal widths, got {in_dim} -> {out_dim}.")
        return nn.Identity()
    match = re.fullmatch(r"mlp(\d+)x_gelu", projector_type)
    if not match:
        raise ValueError(f"Unknown projector_type {projector_type!r}; use 'linear', 'identity' or 'mlp<N>x_gelu'.")
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    for _ in range(int(match.group(1)) - 1):
        layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
    return nn.Sequential(*layers)
