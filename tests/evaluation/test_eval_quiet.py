"""`minigemini eval <bench>` prints the results table and nothing a user cannot act on."""

import sys
from pathlib import Path

from tiny_checkpoints import build_tiny_checkpoint
from typer.testing import CliRunner

from minigemini.evaluation import get_benchmark
from minigemini.evaluation.cli import app as eval_app

from eval_helpers import pope_hub


def test_eval_run_prints_the_table_without_loading_or_progress_bars(tmp_path):
    checkpoint = build_tiny_checkpoint(tmp_path / "tiny-mgm")
    pope_hub(tmp_path / "hub")
    data = get_benchmark("pope").prepare(tmp_path / "hub", tmp_path / "pope")
    assert not sys.stderr.isatty()  # as in a log file or CI
    result = CliRunner().invoke(eval_app, ["pope", "--model", str(checkpoint), "--data", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    printed = result.stdout + result.stderr
    assert "| pope |" in result.stdout
    assert "Loading weights" not in printed  # transformers' load bar
    assert "it/s" not in printed and "%|" not in printed  # no tqdm bar off a terminal
    assert Path(tmp_path / "out" / "pope_results.json").is_file()
