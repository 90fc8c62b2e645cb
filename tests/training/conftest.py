"""Shared fixtures: a generated tiny dataset and tiny recipe dicts."""

from __future__ import annotations

import copy

import pytest
import torch

from minigemini.training.tiny_data import write_tiny_dataset


@pytest.fixture(autouse=True)
def one_thread():
    """2 shared cores: one intra-op thread per process is faster and makes runs bitwise repeatable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny-data"), n=32)


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
