from pathlib import Path

import pytest

from minigemini.training.recipe import RecipeError, load_recipe, recipe_from_dict

RECIPES = sorted(Path(__file__).resolve().parents[2].joinpath("recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_shipped_recipe_parses_and_validates(path):
    recipe = load_recipe(path)
    assert recipe.stage in ("align", "instruct")
    assert recipe.train.lr > 0


def test_official_numbers_are_mirrored():
    root = RECIPES[0].parent
    align = load_recipe(root / "mgm-7b-align.yaml")
    assert (align.train.lr, align.train.global_batch_size, align.train.warmup_ratio) == (1e-3, 256, 0.03)
    instruct = load_recipe(root / "mgm-8x7b-instruct.yaml")
    assert instruct.train.lr == 1e-5 and instruct.train.lr_multipliers == {"projector": 2.0, "mining": 2.0}
    assert instruct.engine.deepspeed_config.endswith("zero3.json")
    hd = load_recipe(root / "mgm-7b-hd-instruct.yaml")
    assert (hd.model.image_grid, hd.model.image_global, hd.model.aux_image_size, hd.model.max_length) == (2, True, 1536, 4096)


def test_overrides_parse_yaml_values(tiny_data):
    from tiny_recipes import tiny_recipe

    recipe = recipe_from_dict(tiny_recipe("align", tiny_data), ["train.lr=3e-4", "train.max_steps=5", "engine.kind=ddp"])
    assert (recipe.train.lr, recipe.train.max_steps, recipe.engine.kind) == (3e-4, 5, "ddp")


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=1", "unknown key"),
        ("train.lr=fast", "must be a number"),
        ("stage=pretrain", "must be one of"),
        ("train.lr_multipliers={mm_projector: 2}", "official model.mm_projector -> projector"),
        ("lora.enabled=true", "applies to stage 'instruct'"),
        ("engine.kind=deepspeed", "needs engine.deepspeed_config"),
    ],
)
def test_bad_recipes_fail_with_a_message_naming_the_fix(tiny_data, override, message):
    from tiny_recipes import tiny_recipe

    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(tiny_recipe("align", tiny_data), [override])


def test_model_needs_exactly_one_source(tiny_data):
    from tiny_recipes import tiny_recipe

    with pytest.raises(RecipeError, match="exactly one of"):
        recipe_from_dict(tiny_recipe("align", tiny_data), ["model.llm=lmsys/vicuna-7b-v1.5"])
