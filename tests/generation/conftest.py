"""Shared fixtures: one tiny random SDXL pipeline folder per test session."""

from pathlib import Path

import pytest
import torch

from tiny_sdxl import build_tiny_sdxl_pipeline


@pytest.fixture(autouse=True, scope="package")
def single_torch_thread():
    """Tiny convolutions run ~10x faster on one thread than on an oversubscribed pool."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory) -> Path:
    return build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("tiny-sdxl"))
