"""vLLM tests: slow, and skipped unless `bash scripts/setup-vllm.sh` has made .venv-vllm."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vllm_fixtures import VLLM_PYTHON  # noqa: E402


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"{VLLM_PYTHON} is missing: run `bash scripts/setup-vllm.sh` to test the vLLM plugin")
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.slow)
            if not VLLM_PYTHON.exists():
                item.add_marker(skip)
