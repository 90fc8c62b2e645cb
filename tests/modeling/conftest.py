"""Tiny random MGM models (built once per session) and deterministic test images."""

from __future__ import annotations

import pytest

from minigemini.tiny import build_tiny_model_and_processor


@pytest.fixture(scope="session")
def tiny_normal():
    return build_tiny_model_and_processor(seed=0)


@pytest.fixture(scope="session")
def tiny_hd():
    return build_tiny_model_and_processor(seed=1, hd=True)
