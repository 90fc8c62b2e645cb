"""`minigemini eval` mounted under a parent typer app: prepare, score, and clear errors."""

import json

import typer
from typer.testing import CliRunner

from minigemini.evaluation.cli import app as eval_app
from minigemini.evaluation import run_benchmark

from eval_helpers import ScriptedPredictor, pope_hub


def mounted() -> typer.Typer:
    main = typer.Typer()
    main.add_typer(eval_app, name="eval")

    @main.command()
    def version() -> None:
        """A sibling command, as the real CLI has."""

    return main


def test_prepare_then_score_from_the_command_line(tmp_path):
    source, data = tmp_path / "hub", tmp_path / "pope"
    pope_hub(source)
    result = CliRunner().invoke(mounted(), ["eval", "prepare", "pope", "--source", str(source), "--out", str(data)])
    assert result.exit_code == 0, result.output
    assert (data / "coco_pope_random.json").is_file()
    run_benchmark("pope", ScriptedPredictor(lambda prompt: "No."), data, tmp_path / "run", progress=False)
    predictions = tmp_path / "run" / "pope_answers.jsonl"
    result = CliRunner().invoke(mounted(), ["eval", "score", "pope", "--data", str(data), "--predictions", str(predictions)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "pope_results.json").read_text())
    assert record["metrics"]["accuracy"] == 50.0
    assert record["metrics"]["yes_ratio"] == 0.0


def test_bad_input_exits_with_a_message_not_a_traceback(tmp_path):
    result = CliRunner().invoke(mounted(), ["eval", "prepare", "textvqa", "--source", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no 'validation' parquet shards" in result.output
    result = CliRunner().invoke(mounted(), ["eval", "score", "nope", "--data", str(tmp_path), "--predictions", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown benchmark 'nope'" in result.output


def test_every_benchmark_has_a_run_command():
    result = CliRunner().invoke(mounted(), ["eval", "--help"])
    for name in ("textvqa", "mme", "mmbench", "mmmu", "mathvista", "mmvet", "pope", "gqa", "prepare", "score"):
        assert name in result.output
