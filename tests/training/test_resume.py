"""Checkpoints are atomic and resume is exact: the resumed loss curve equals the uninterrupted one."""

import json

import pytest

from minigemini.training import run_training
from minigemini.training.checkpointing import latest_checkpoint
from minigemini.training.engines import TorchEngine
from minigemini.training.recipe import recipe_from_dict

from tiny_recipes import tiny_recipe


class Crash(Exception):
    pass


def _losses(path):
    return [(r["step"], r["loss"], r["lr"]) for r in map(json.loads, path.read_text().splitlines())]


@pytest.mark.parametrize("stage", ["align", "instruct"])
def test_resume_after_a_crash_reproduces_the_uninterrupted_loss_curve(tiny_data, tmp_path, monkeypatch, stage):
    # 2 epochs x 8 steps; checkpoints every 3 steps; the crash comes at step 11 (epoch 2), after the step-9 save.
    recipe = recipe_from_dict(tiny_recipe(stage, tiny_data, train={"save_steps": 3, "save_total_limit": 2}))
    full = run_training(recipe, tmp_path / "full", progress=False)

    real_step, calls = TorchEngine.optimizer_step, {"n": 0}

    def crashing_step(self):
        calls["n"] += 1
        if calls["n"] == 11:
            raise Crash
        return real_step(self)

    monkeypatch.setattr(TorchEngine, "optimizer_step", crashing_step)
    with pytest.raises(Crash):
        run_training(recipe, tmp_path / "crashed", progress=False)
    monkeypatch.setattr(TorchEngine, "optimizer_step", real_step)
    assert latest_checkpoint(tmp_path / "crashed" / "checkpoints").name == "step-00000009"

    resumed = run_training(recipe, tmp_path / "crashed", resume=True, progress=False)
    assert resumed.steps == full.steps == 16
    assert _losses(resumed.log_path) == _losses(full.log_path)  # bitwise: weights, Adam, schedule, RNG, data order


def test_a_half_written_checkpoint_is_never_latest(tiny_data, tmp_path, monkeypatch):
    recipe = recipe_from_dict(tiny_recipe("align", tiny_data, train={"save_steps": 2, "epochs": 1}))
    real_save = TorchEngine.save_state
    calls = {"n": 0}

    def dying_save(self, path):
        calls["n"] += 1
        if calls["n"] == 2:
            (path / "model.pt").write_bytes(b"partial")
            raise Crash
        return real_save(self, path)

    monkeypatch.setattr(TorchEngine, "save_state", dying_save)
    with pytest.raises(Crash):
        run_training(recipe, tmp_path, progress=False)
    root = tmp_path / "checkpoints"
    assert latest_checkpoint(root).name == "step-00000002"
    assert (root / "latest").read_text() == "step-00000002"
    monkeypatch.setattr(TorchEngine, "save_state", real_save)
    resumed = run_training(recipe, tmp_path, resume=True, progress=False)
    assert resumed.steps == 8
    assert not list(root.glob(".tmp-*"))
