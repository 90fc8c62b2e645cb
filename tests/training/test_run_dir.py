"""The output folder holds one run: a second run is refused unless it resumes or overwrites; resume checks
the recipe, ignores a torn metrics line and stale temp folders; checkpoints are fsynced and load unpickle-free."""

import json
import os

import pytest
import torch
import yaml
from typer.testing import CliRunner

from minigemini.training import checkpointing, run_training
from minigemini.training.checkpointing import latest_checkpoint
from minigemini.training.cli import app
from minigemini.training.engines import TorchEngine
from minigemini.training.output_dir import RunDirError
from minigemini.training.recipe import recipe_from_dict

from tiny_recipes import tiny_recipe


def _recipe(tiny_data, **train):
    return recipe_from_dict(tiny_recipe("align", tiny_data, train={"epochs": 1, "save_steps": 4, **train}))


def test_a_new_run_into_a_used_folder_is_refused_naming_both_flags_and_overwrite_starts_over(tiny_data, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe("align", tiny_data, train={"epochs": 2, "save_steps": 8})))
    out = tmp_path / "run"
    base = ["train", "--recipe", str(recipe), "--output-dir", str(out), "--no-progress"]
    assert CliRunner().invoke(app, base).exit_code == 0
    assert latest_checkpoint(out / "checkpoints").name == "step-00000016"

    # a shorter second run (its checkpoints sort before the old run's) into the same folder
    shorter = [*base, "--set", "train.epochs=1", "--set", "train.save_steps=2"]
    refused = CliRunner().invoke(app, shorter)
    assert refused.exit_code == 2
    assert "--resume" in refused.output and "--overwrite" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert latest_checkpoint(out / "checkpoints").name == "step-00000016"  # nothing touched

    assert CliRunner().invoke(app, [*shorter, "--overwrite"]).exit_code == 0
    root = out / "checkpoints"
    assert sorted(p.name for p in root.glob("step-*")) == ["step-00000006", "step-00000008"]
    assert latest_checkpoint(root).name == "step-00000008"
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == list(range(1, 9))


def test_every_checkpoint_file_loads_without_unpickling(tiny_data, tmp_path):
    run_training(_recipe(tiny_data), tmp_path, progress=False)
    files = list(latest_checkpoint(tmp_path / "checkpoints").glob("*.pt"))
    assert {f.name for f in files} == {"model.pt", "optimizer.pt", "scheduler.pt", "rng-rank0.pt"}
    for f in files:
        torch.load(f, weights_only=True)


def test_checkpoint_files_and_folders_are_fsynced_before_latest_moves(tiny_data, tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = checkpointing._fsync, os.replace
    monkeypatch.setattr(checkpointing, "_fsync", lambda path: (events.append(("fsync", path.name)), real_fsync(path)))
    monkeypatch.setattr(checkpointing.os, "replace", lambda a, b: (events.append(("replace", os.path.basename(b))), real_replace(a, b)))
    run_training(_recipe(tiny_data, save_steps=8), tmp_path, progress=False)
    moved = events.index(("replace", "latest"))
    synced = {name for kind, name in events[:moved] if kind == "fsync"}
    assert {"model.pt", "optimizer.pt", "scheduler.pt", "rng-rank0.pt", "trainer_state.json", "latest.tmp",
            ".tmp-step-00000008", "checkpoints"} <= synced
    assert events.index(("replace", "step-00000008")) < events.index(("fsync", "checkpoints"))


def test_resume_clears_stale_temp_folders_and_survives_a_torn_metrics_line(tiny_data, tmp_path, monkeypatch):
    recipe = _recipe(tiny_data, save_steps=2)
    full = run_training(recipe, tmp_path / "full", progress=False)
    real_step, calls = TorchEngine.optimizer_step, {"n": 0}

    def crashing_step(self):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("crash")
        return real_step(self)

    monkeypatch.setattr(TorchEngine, "optimizer_step", crashing_step)
    with pytest.raises(RuntimeError, match="crash"):
        run_training(recipe, tmp_path / "cut", progress=False)
    monkeypatch.setattr(TorchEngine, "optimizer_step", real_step)
    out = tmp_path / "cut"
    root = out / "checkpoints"
    (root / "step-00000006").rename(root / ".tmp-step-00000006")  # the step-6 save died before its rename
    (root / "latest").write_text("step-00000004")
    metrics = out / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 7, "lo')  # and the log line was torn

    resumed = run_training(recipe, out, resume=True, progress=False)
    assert not list(root.glob(".tmp-*"))
    assert [r["step"] for r in map(json.loads, metrics.read_text().splitlines())] == list(range(1, 9))
    assert resumed.losses == full.losses


def test_a_resume_with_a_changed_recipe_names_the_fields_and_needs_the_flag(tiny_data, tmp_path):
    recipe = _recipe(tiny_data, max_steps=4)
    run_training(recipe, tmp_path, progress=False)
    changed = recipe_from_dict(tiny_recipe("align", tiny_data, train={"epochs": 1, "save_steps": 4, "lr": 5e-3}))
    with pytest.raises(RunDirError, match=r"in: train\.lr, train\.max_steps; .*--accept-recipe-change"):
        run_training(changed, tmp_path, resume=True, progress=False)
    with pytest.warns(UserWarning, match=r"train\.lr, train\.max_steps"):
        result = run_training(changed, tmp_path, resume=True, progress=False, accept_recipe_change=True)
    assert result.steps == 8
