"""ModelPredictor on a tiny random minigemini checkpoint: left-padded batches equal single requests."""

import json

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from minigemini.evaluation import Decoding, EvalRequest, ModelPredictor
from minigemini.evaluation.cli import app as eval_app


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tiny_checkpoints import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


def test_batched_answers_equal_one_by_one_answers(tiny_checkpoint):
    predictor = ModelPredictor.from_pretrained(tiny_checkpoint)
    image = Image.new("RGB", (32, 32), (10, 200, 10))
    greedy = Decoding(max_new_tokens=4)
    beam_sample = Decoding(max_new_tokens=3, do_sample=True, temperature=1.0, num_beams=5, seed=42)
    requests = [
        EvalRequest("short?", [image], greedy),
        EvalRequest("a much longer question about the picture?", [image], greedy),
        EvalRequest("mmmu style", [image], beam_sample),
    ]
    batched = predictor.predict(requests)
    assert batched == [predictor.predict([r])[0] for r in requests]
    assert predictor.predict(requests[2:]) == batched[2:]  # seeded beam-sample is repeatable


def test_cli_runs_a_benchmark_end_to_end_with_the_tiny_model(tiny_checkpoint, prepared, tmp_path):
    data = prepared("gqa")
    main = typer.Typer()
    main.add_typer(eval_app, name="eval")
    args = ["eval", "gqa", "--model", str(tiny_checkpoint), "--data", str(data), "--out", str(tmp_path), "--batch-size", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "gqa_results.json").read_text())
    assert record["model"] == str(tiny_checkpoint)
    assert record["counts"] == {"questions": 2}
    rows = [json.loads(line) for line in (tmp_path / "gqa_answers.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in rows] == ["q1", "q2"]
    assert "| gqa |" in result.output
