"""What trains in each stage, the stage-1 adapter file, and AdamW parameter groups with lr multipliers."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

ADAPTER_FILE = "mm_adapter.safetensors"
ADAPTER_MODULES = ("projector", "mining")
_OFFICIAL_NAMES = [  # official mm_projector.bin keys -> ours
    (r"^model\.mm_projector\.", "projector."),
    (r"^model\.vlm_uni_query_projector\.", "mining.query_projector."),
    (r"^model\.vlm_uni_aux_projector\.", "mining.key_projector."),
    (r"^model\.vlm_uni_val_projector\.", "mining.value_projector."),
]


def _strip_wrappers(name: str) -> str:
    """Parameter name without DDP/FSDP/peft/activation-checkpoint prefixes."""
    for prefix in ("module.", "_fsdp_wrapped_module.", "base_model.model.", "_checkpoint_wrapped_module."):
        name = name.replace(prefix, "")
    return name


def top_module(name: str) -> str:
    """`projector`, `mining`, `language_model`, `vision_tower` or `aux_vision_tower` for a parameter name."""
    return _strip_wrappers(name).split(".", 1)[0]


def set_trainable(model: nn.Module, stage: str, lora: bool = False) -> None:
    """align: projector + mining; instruct: LLM + projector + mining (with LoRA, LoRA weights instead of the LLM)."""
    if stage not in ("align", "instruct"):
        raise ValueError(f"stage must be 'align' or 'instruct', got {stage!r}.")
    for name, p in model.named_parameters():
        module = top_module(name)
        if module in ADAPTER_MODULES:
            p.requires_grad_(True)
        elif module == "language_model" and stage == "instruct":
            p.requires_grad_("lora_" in name if lora else True)
        else:
            p.requires_grad_(False)


def save_adapter(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt", "content": "minigemini projector+mining adapter"})
    return path


def _read_adapter(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():
        path = path / ADAPTER_FILE
    if not path.exists():
        raise FileNotFoundError(f"adapter {path} not found; point model.adapter at the align run's {ADAPTER_FILE}.")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)  # official mm_projector.bin
    out = {}
    for key, value in state.items():
        for pattern, repl in _OFFICIAL_NAMES:
            if re.match(pattern, key):
                out[re.sub(pattern, repl, key)] = value
    return out


def load_adapter(model: nn.Module, path: str | Path) -> None:
    """Load a stage-1 adapter (ours, or an official `mm_projector.bin`) into projector + mining, strictly."""
    state = _read_adapter(Path(path))
    own = {k: v for k, v in model.state_dict().items() if k.split(".", 1)[0] in ADAPTER_MODULES}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"adapter {path} does not match this model: missing {missing[:4]}, unexpected {unexpected[:4]}. "
            "Was it trained with the same mining setting (model.tiny / towers)?"
        )
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(
                f"adapter {path}: {key} has shape {tuple(value.shape)} but the model expects {tuple(own[key].shape)}; "
                "the adapter was trained for a different LLM width or vision tower."
            )
    model.load_state_dict(state, strict=False)


def param_groups(model: nn.Module, lr: float, weight_decay: float, multipliers: dict[str, float]) -> list[dict]:
    """Trainable params grouped by lr multiplier (official `lr_multi`) and decay (no decay on biases and norms)."""
    groups: dict[tuple[float, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mult = multipliers.get(top_module(name), 1.0)
        decay = weight_decay > 0 and p.ndim >= 2
        groups.setdefault((mult, decay), []).append(p)
    if not groups:
        raise ValueError("nothing to train: every parameter is frozen (check the stage and LoRA settings).")
    return [
        {"params": ps, "lr": lr * mult, "lr_mult": mult, "weight_decay": weight_decay if decay else 0.0}
        for (mult, decay), ps in sorted(groups.items())
    ]
