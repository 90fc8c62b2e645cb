"""Recipes read LLaVA files or a mixture YAML; modality grouping keeps text-only batches apart."""

import yaml

from minigemini.training import recipe_from_dict, run_training
from minigemini.training.data import BatchPlan

from tiny_recipes import tiny_recipe


def test_mixture_yaml_sets_the_epoch_size(tiny_data, tmp_path):
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"seed": 0, "datasets": [
        {"json": str(tiny_data["align"]), "image_root": str(tiny_data["image_root"]), "weight": 0.5},
    ]}))
    recipe = tiny_recipe("align", tiny_data, train={"epochs": 1})
    recipe["data"] = {"mixture": str(mix)}
    result = run_training(recipe_from_dict(recipe), tmp_path / "run", progress=False)
    assert result.steps == 4  # 16 of 32 rows, batch 4


def test_modality_grouped_batches_never_mix_image_and_text_rows():
    lengths = [10] * 12 + [-5] * 8
    for rank in (0, 1):
        plan = BatchPlan(len(lengths), 2, 2, rank, seed=0, modality_lengths=lengths)
        for batch in plan.batches(epoch=1):
            assert len({lengths[i] > 0 for i in batch}) == 1
