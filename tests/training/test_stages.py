"""The two MGM stages on a tiny model: loss falls, the right parameters move, the adapter carries over."""

import json

import torch
from safetensors.torch import load_file

from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.training import run_training
from minigemini.training.build import build_model_and_processor
from minigemini.training.recipe import recipe_from_dict
from minigemini.training.stages import param_groups, set_trainable

from tiny_recipes import tiny_recipe


def _changed(before: dict, after: dict) -> set[str]:
    return {k.split(".", 1)[0] for k in before if not torch.equal(before[k], after[k])}


def test_align_then_instruct_loss_falls_and_only_the_right_modules_train(tiny_data, tmp_path):
    align = recipe_from_dict(tiny_recipe("align", tiny_data, train={"epochs": 3}))
    start, _ = build_model_and_processor(align.model)
    start_sd = {k: v.clone() for k, v in start.state_dict().items()}

    res = run_training(align, tmp_path / "align", progress=False)
    assert res.losses[-1] < res.losses[0] - 0.3, res.losses
    trained = MiniGeminiForConditionalGeneration.from_pretrained(res.final_dir)
    assert _changed(start_sd, trained.state_dict()) == {"projector", "mining"}
    adapter = load_file(res.adapter_path)
    assert {k.split(".", 1)[0] for k in adapter} == {"projector", "mining"}

    instruct = recipe_from_dict(tiny_recipe("instruct", tiny_data, model={"adapter": str(res.adapter_path)}))
    res2 = run_training(instruct, tmp_path / "instruct", progress=False)
    assert res2.losses[-1] < res2.losses[0] - 0.5, res2.losses
    final = MiniGeminiForConditionalGeneration.from_pretrained(res2.final_dir).state_dict()
    assert _changed(start_sd, final) == {"projector", "mining", "language_model"}  # towers stay frozen
    # instruct started from the align adapter: its first loss is the align run's last-epoch level, not the raw start
    assert res2.losses[0] < res.losses[0]


def test_run_directory_has_logs_curve_and_loadable_model(tiny_data, tmp_path):
    recipe = recipe_from_dict(tiny_recipe("align", tiny_data, train={"epochs": 1}, logging={"tensorboard": True}))
    res = run_training(recipe, tmp_path, progress=False)
    rows = [json.loads(line) for line in res.log_path.read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, res.steps + 1))
    assert {"step", "loss", "lr", "samples_per_s", "tokens_per_s", "grad_norm"} <= set(rows[0])
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "loss.png").stat().st_size > 1000
    from minigemini.processing import MiniGeminiProcessor

    MiniGeminiProcessor.from_pretrained(res.final_dir)


def test_lr_multipliers_make_separate_groups_like_official_lr_multi(tiny_data):
    recipe = recipe_from_dict(tiny_recipe("instruct", tiny_data))
    model, _ = build_model_and_processor(recipe.model)
    set_trainable(model, "instruct")
    groups = param_groups(model, 1e-5, 0.0, {"projector": 2, "mining": 2})
    by_lr = {g["lr"]: sum(p.numel() for p in g["params"]) for g in groups}
    n_llm = sum(p.numel() for p in model.language_model.parameters())
    n_mm = sum(p.numel() for m in (model.projector, model.mining) for p in m.parameters())
    assert by_lr == {1e-5: n_llm, 2e-5: n_mm}


def test_hr_drop_path_stays_active_in_training_unless_turned_off(tiny_data):
    on = recipe_from_dict(tiny_recipe("align", tiny_data))
    off = recipe_from_dict(tiny_recipe("align", tiny_data, model={"hr_drop_path_in_training": False}))
    for recipe, expected in ((on, True), (off, False)):
        model, _ = build_model_and_processor(recipe.model)
        model.train()
        assert model.aux_vision_tower.training is expected


def test_bf16_autocast_with_gradient_checkpointing_trains(tiny_data, tmp_path):
    recipe = recipe_from_dict(
        tiny_recipe("instruct", tiny_data, train={"precision": "bf16", "gradient_checkpointing": True, "epochs": 1})
    )
    res = run_training(recipe, tmp_path, progress=False)
    assert res.losses[-1] < res.losses[0]
