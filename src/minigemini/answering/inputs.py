"""The one place where processor outputs move to the model: its device, and its dtype for float tensors."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def to_model(value, model):
    """A tensor, or a mapping of them (processor output), on `model.device`; floating tensors in `model.dtype`."""
    if isinstance(value, Mapping):
        return {k: to_model(v, model) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.to(model.device, model.dtype if value.is_floating_point() else None)
    return value
