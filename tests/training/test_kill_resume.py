"""kill -9 of the real `minigemini train` in the middle of writing a checkpoint: `--resume` ends where an
uninterrupted run ends (bitwise weights and loss curve), with no step logged twice."""

import json

import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from minigemini.training import run_training
from minigemini.training.checkpointing import latest_checkpoint
from minigemini.training.cli import app
from minigemini.training.recipe import recipe_from_dict

from kill_points import kill_when_paused, start_paused
from tiny_recipes import tiny_recipe


def test_kill_9_mid_save_then_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    recipe = tiny_recipe("align", tiny_data, train={"epochs": 2, "save_steps": 4, "save_total_limit": 2})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out, flag = tmp_path / "run", tmp_path / "paused"
    # the second checkpoint (step 8 of 16): its weights, Adam and schedule are written, its RNG and state are not
    proc = start_paused(["train", "--recipe", str(path), "--output-dir", str(out), "--no-progress"],
                        "minigemini.training.engines:TorchEngine.save_state", 2, flag)
    kill_when_paused(proc, flag)
    root = out / "checkpoints"
    assert [p.name for p in root.glob(".tmp-step-*")] == [".tmp-step-00000008"]
    assert latest_checkpoint(root).name == "step-00000004"
    assert not (out / "final").exists()

    result = CliRunner().invoke(app, ["train", "--recipe", str(path), "--output-dir", str(out), "--no-progress", "--resume"])
    assert result.exit_code == 0, result.output
    assert not list(root.glob(".tmp-*"))
    full = run_training(recipe_from_dict(recipe), tmp_path / "full", progress=False)
    resumed_log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed_log] == list(range(1, 17))
    assert [(r["loss"], r["lr"]) for r in resumed_log] == [(r["loss"], r["lr"]) for r in map(json.loads, full.log_path.read_text().splitlines())]
    got, want = load_file(out / "final" / "model.safetensors"), load_file(full.final_dir / "model.safetensors")
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
