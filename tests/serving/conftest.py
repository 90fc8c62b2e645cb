import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_checkpoints import build_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny random Mini-Gemini written with save_pretrained (served as model 'tiny-mgm')."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-mgm")
