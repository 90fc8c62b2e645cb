"""A killed run (partial batches + a truncated last line) resumes without duplicates."""

import json

import pytest

from minigemini.evaluation import run_benchmark
from minigemini.evaluation.answer_file import AnswerWriter, read_answers

from eval_helpers import ScriptedPredictor


class DiesAfter(ScriptedPredictor):
    def __init__(self, calls: int):
        super().__init__(lambda prompt: "Yes")
        self.calls_left = calls

    def predict(self, requests):
        if self.calls_left == 0:
            raise KeyboardInterrupt("simulated kill")
        self.calls_left -= 1
        return super().predict(requests)


def _interrupted_after_one_batch(prepared, tmp_path):
    """An mme run (4 questions) interrupted after its first batch of 2: (data folder, out folder, answers file)."""
    data = prepared("mme")
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_benchmark("mme", DiesAfter(calls=1), data, out, batch_size=2, progress=False)
    return data, out, out / "mme_answers.jsonl"


def test_rerun_after_kill_with_truncated_line_completes_without_duplicates(prepared, tmp_path):
    data, out, answers = _interrupted_after_one_batch(prepared, tmp_path)
    assert len(read_answers(answers)) == 2
    with answers.open("a") as handle:
        handle.write('{"question_id": "code_reasoning/0020.png/0", "prom')  # the kill hit mid-write
    assert len(read_answers(answers)) == 2

    second = ScriptedPredictor(lambda prompt: "Yes")
    record = run_benchmark("mme", second, data, out, batch_size=2, progress=False)
    assert len(second.asked) == 2
    lines = answers.read_text().splitlines()
    ids = [json.loads(line)["question_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 4
    assert record["counts"]["questions"] == 4

    third = ScriptedPredictor(lambda prompt: "Yes")
    run_benchmark("mme", third, data, out, progress=False)
    assert third.asked == []


def test_a_whole_last_row_without_its_newline_is_kept_once(prepared, tmp_path):
    data, out, answers = _interrupted_after_one_batch(prepared, tmp_path)
    answers.write_bytes(answers.read_bytes().rstrip(b"\n"))  # the kill came between the row and its newline
    second = ScriptedPredictor(lambda prompt: "Yes")
    run_benchmark("mme", second, data, out, batch_size=2, progress=False)
    assert len(second.asked) == 2
    ids = [json.loads(line)["question_id"] for line in answers.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 4


def test_a_broken_line_before_the_end_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": "1", "text": "a"}\nnot json\n{"question_id": "2", "text": "b"}\n')
    with pytest.raises(ValueError, match="answers.jsonl:2"):
        read_answers(path)


def test_writer_cuts_a_partial_tail_before_appending(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": "1", "text": "a"}\n{"question_id": "2", "te')
    with AnswerWriter(path) as writer:
        writer.write_batch([{"question_id": "2", "text": "b"}])
    assert read_answers(path) == {"1": {"question_id": "1", "text": "a"}, "2": {"question_id": "2", "text": "b"}}


def test_answers_from_another_model_are_not_mixed_in(prepared, tmp_path):
    data = prepared("gqa")
    run_benchmark("gqa", ScriptedPredictor(str, model_id="model-a"), data, tmp_path, limit=1, progress=False)
    with pytest.raises(ValueError, match="model-a"):
        run_benchmark("gqa", ScriptedPredictor(str, model_id="model-b"), data, tmp_path, progress=False)


def test_limit_runs_only_the_first_questions_and_scores_them(prepared, tmp_path):
    predictor = ScriptedPredictor(lambda prompt: "yes")
    record = run_benchmark("gqa", predictor, prepared("gqa"), tmp_path, limit=1, progress=False)
    assert len(predictor.asked) == 1
    assert record["metrics"]["accuracy"] == 100.0


def test_kill_9_of_the_real_eval_run_then_rerun_loses_and_duplicates_nothing(prepared, tmp_path):
    from kill_points import kill_when_paused, start_paused
    from tiny_checkpoints import build_tiny_checkpoint
    from typer.testing import CliRunner

    from minigemini.evaluation.cli import app

    data, model = prepared("mme"), build_tiny_checkpoint(tmp_path / "tiny")
    out, flag = tmp_path / "out", tmp_path / "paused"
    args = ["mme", "--model", str(model), "--data", str(data), "--out", str(out), "--batch-size", "1"]
    proc = start_paused(["eval", *args], "minigemini.evaluation.answer_file:AnswerWriter.write_batch", 2, flag)
    kill_when_paused(proc, flag)
    answers = out / "mme_answers.jsonl"
    before = answers.read_text().splitlines()
    assert len(before) == 2

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = answers.read_text().splitlines()
    ids = [json.loads(line)["question_id"] for line in lines]
    assert lines[:2] == before  # the killed run's answers are kept, not asked again
    assert len(ids) == len(set(ids)) == 4
    assert json.loads((out / "mme_results.json").read_text())["counts"]["questions"] == 4
