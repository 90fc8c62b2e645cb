"""Training: recipes, one MGM stage per run (align, then instruct) on single/DDP/FSDP2/DeepSpeed engines, LoRA, checkpoints.

Heavy modules load on first use; `from minigemini.training import run_training, load_recipe` is cheap.
"""

from __future__ import annotations

_LAZY = {
    "Recipe": "recipe",
    "RecipeError": "recipe",
    "load_recipe": "recipe",
    "recipe_from_dict": "recipe",
    "run_training": "trainer",
    "TrainingResult": "trainer",
    "merge_lora": "lora",
    "load_lora_model": "lora",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
