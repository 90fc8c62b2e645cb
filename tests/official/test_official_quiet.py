"""Loading and converting an official folder prints nothing a user cannot act on."""

from __future__ import annotations

import os
import subprocess
import sys

from official_fixtures import write_official_checkpoint

LOAD = """
import sys
from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor
MiniGeminiForConditionalGeneration.from_pretrained(sys.argv[1])
MiniGeminiProcessor.from_pretrained(sys.argv[1])
"""


def _run(args, cwd):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=True)


def test_loading_an_official_gemma_folder_prints_nothing(tmp_path):
    fixture = write_official_checkpoint(tmp_path, "gemma")  # its config carries the legacy hidden_act="gelu"
    done = _run([sys.executable, "-c", LOAD, str(fixture.path)], tmp_path)
    assert done.stdout == "" and done.stderr == ""


def test_convert_prints_only_where_it_wrote(tmp_path):
    fixture = write_official_checkpoint(tmp_path, "mixtral")
    done = _run([sys.executable, "-m", "minigemini", "convert", str(fixture.path), str(tmp_path / "out")], tmp_path)
    assert done.stderr == ""
    assert done.stdout.splitlines() == [f"wrote {tmp_path / 'out'}"]  # also no DeepSpeed line from save_pretrained
