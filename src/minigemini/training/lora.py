"""LoRA / QLoRA on the LLM's linear layers (peft); projector and mining keep training in full.

An adapter folder holds peft's `adapter_config.json` + `adapter_model.safetensors`, the fully trained
projector and mining (`mm_adapter.safetensors`), the processor, and the `recipe.yaml` that rebuilds the
base model, so `merge_lora(adapter_dir, out_dir)` needs nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file
from torch import nn

from .recipe import LoraSpec, Recipe, recipe_from_dict
from .stages import ADAPTER_FILE, ADAPTER_MODULES, save_adapter

RECIPE_FILE = "recipe.yaml"


class QLoRAUnavailable(RuntimeError):
    """QLoRA was asked for where bitsandbytes or CUDA is missing."""


def quantization_config(spec: LoraSpec):
    """A BitsAndBytesConfig for lora.quantize (4 or 8), or None; raises a clear error without CUDA/bitsandbytes."""
    if spec.quantize is None:
        return None
    if not torch.cuda.is_available():
        raise QLoRAUnavailable(
            f"lora.quantize={spec.quantize} (QLoRA) needs a CUDA GPU: bitsandbytes kernels do not run on CPU. "
            "Use plain LoRA here (--set lora.quantize=null) or run on a GPU machine."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise QLoRAUnavailable("lora.quantize needs bitsandbytes: pip install bitsandbytes") from e
    from transformers import BitsAndBytesConfig

    if spec.quantize == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def llm_lora_targets(model: nn.Module) -> str:
    """A peft regex for every Linear inside the LLM except lm_head (official `find_all_linear_names`)."""
    suffixes = set()
    for name, module in model.named_modules():
        if name.startswith("language_model.") and type(module).__name__ in ("Linear", "Linear4bit", "Linear8bitLt"):
            leaf = name.rsplit(".", 1)[-1]
            if leaf != "lm_head":
                suffixes.add(leaf)
    if not suffixes:
        raise ValueError("no Linear layers found in the LLM to put LoRA on.")
    return r"language_model\..*\.(?:" + "|".join(sorted(map(re.escape, suffixes))) + ")"


def apply_lora(model: nn.Module, spec: LoraSpec) -> nn.Module:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if spec.quantize is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=llm_lora_targets(model), bias="none"
    )
    return get_peft_model(model, config)


def save_lora_adapter(peft_model: nn.Module, state_dict: dict[str, torch.Tensor], out_dir: Path, recipe: Recipe, processor) -> Path:
    """Write the adapter folder from a full (gathered) state dict of the peft-wrapped model."""
    from peft import get_peft_model_state_dict

    out_dir.mkdir(parents=True, exist_ok=True)
    lora_sd = get_peft_model_state_dict(peft_model, state_dict=state_dict)
    save_file({k: v.contiguous() for k, v in lora_sd.items()}, str(out_dir / "adapter_model.safetensors"))
    peft_model.peft_config["default"].save_pretrained(str(out_dir))
    prefix = "base_model.model."
    mm = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.removeprefix(prefix).split(".", 1)[0] in ADAPTER_MODULES}
    save_adapter(mm, out_dir / ADAPTER_FILE)
    (out_dir / RECIPE_FILE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    processor.save_pretrained(out_dir)
    return out_dir


def load_lora_model(adapter_dir: str | Path):
    """(peft model with the adapter attached, processor): rebuilds the base from the stored recipe."""
    from peft import PeftModel

    from ..processing import MiniGeminiProcessor
    from .build import build_model_and_processor
    from .stages import load_adapter

    adapter_dir = Path(adapter_dir)
    recipe_file = adapter_dir / RECIPE_FILE
    if not recipe_file.exists():
        raise FileNotFoundError(f"{recipe_file} missing: {adapter_dir} is not a minigemini LoRA adapter folder (DIR/final-lora).")
    recipe = recipe_from_dict(yaml.safe_load(recipe_file.read_text()))
    model, _ = build_model_and_processor(recipe.model)
    load_adapter(model, adapter_dir / ADAPTER_FILE)
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    return peft_model.eval(), MiniGeminiProcessor.from_pretrained(adapter_dir)


def merge_lora(adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Fold the LoRA weights into the LLM and write a plain `from_pretrained` folder."""
    peft_model, processor = load_lora_model(adapter_dir)
    merged = peft_model.merge_and_unload()
    out_dir = Path(out_dir)
    merged.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
