"""Tiny recipe dicts for the training tests (a plain module: every tests/ folder has its own conftest)."""

from __future__ import annotations

import copy


def tiny_recipe(stage: str, data: dict, **sections) -> dict:
    """A tiny recipe dict; `sections` update the model/data/train/engine/lora/logging sections."""
    recipe = {
        "name": f"test-{stage}",
        "stage": stage,
        "model": {"tiny": {"seed": 0, "llm_init_std": 0.3}, "max_length": 256},
        "data": {"train": [str(data[stage])], "image_root": str(data["image_root"])},
        "train": {
            "lr": 1e-2 if stage == "align" else 2e-3,
            "epochs": 2,
            "per_device_batch_size": 4,
            "precision": "fp32",
            "gradient_checkpointing": False,
            "warmup_ratio": 0.03,
        },
        "logging": {"tensorboard": False},
    }
    for key, values in sections.items():
        recipe.setdefault(key, {}).update(copy.deepcopy(values))
    return recipe
