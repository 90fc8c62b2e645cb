"""`minigemini demo --llm smollm2`: both variants start from a real pretrained LLM (its weights, tokenizer and
own chat template), built by the training code's `model.llm` path as official MGM training starts from Vicuna.

The LLM is tuned with LoRA in the instruct stage (projector and mining train in full), which fits two CPU cores
and leaves the LLM's own knowledge in place, so the trained folder still answers ordinary text questions.
"""

from __future__ import annotations

from pathlib import Path

LORA = {"enabled": True, "r": 16, "alpha": 32, "dropout": 0.0}
# A 135M-parameter LLM trains at ~0.15 images/s on two busy CPU cores (the tiny LLM: ~30x faster), so its
# demo budget is far smaller than the tiny LLM's; the LoRA lr is the LLM's, projector and mining train 10x faster.
# The instruct stage also replays the LLM's own answers to text questions (text_replay.py), so that one-word
# image answers do not turn it into a one-word answerer.
BUDGET = dict(seeds=(0,), n_train=96, n_test=60, instruct_epochs=2, instruct_lr=3e-4, adapter_lr_multiplier=10.0,
              text_replay=48)
QUICK_BUDGET = dict(n_train=8, n_test=4, fresh_questions=1, instruct_lr=3e-4, adapter_lr_multiplier=10.0, text_replay=4)


def lr_tower_folder(root: Path, seed: int, lr_size: int, config: dict) -> Path:
    """A random CLIP ViT for the LR view, saved once per seed: the demo's towers are random and frozen (its
    task is synthetic), and `model.llm` recipes read the LR tower from a folder."""
    folder = root / f"lr_tower_seed{seed}_{lr_size}px"
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from ..quiet import quiet_transformers

    torch.manual_seed(seed)
    tower = CLIPVisionModel(CLIPVisionConfig(image_size=lr_size, **config))
    with quiet_transformers():
        tower.save_pretrained(folder)
    return folder


def pretrained_spec(llm: Path, lr_tower: Path, mining: bool, grid: int, hr_side: int, hr_config: dict) -> dict:
    """`model` section of a recipe: the pretrained LLM + the LR tower folder + a random ConvNeXt for the HR view."""
    return {
        "llm": str(llm),
        "vision_tower": str(lr_tower),
        "hr_tower": None,
        "hr_tower_config": hr_config,
        "mining": mining,
        "image_grid": grid,
        "image_global": grid > 1,
        "aux_image_size": hr_side * grid,
        "template": "tokenizer",  # the LLM's own chat template (SmolLM2: ChatML with its system prompt)
        "max_length": 512,
    }
