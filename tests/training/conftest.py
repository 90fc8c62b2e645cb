"""Shared fixtures: one intra-op thread, and a generated tiny dataset."""

from __future__ import annotations

import pytest
import torch

from minigemini.data.tiny import write_tiny_dataset


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
