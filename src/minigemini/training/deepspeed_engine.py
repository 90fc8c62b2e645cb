"""DeepSpeed ZeRO-2/3 engine: raw `deepspeed.initialize` (works under torchrun, on GPUs and on CPU with torch Adam)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import get_cosine_schedule_with_warmup

from .distributed import DistInfo
from .recipe import TrainSpec


def moe_block_classes(model: nn.Module) -> list[type]:
    """Sparse MoE block classes (a module holding `experts` and a gate/router), e.g. MixtralSparseMoeBlock."""
    found: dict[str, type] = {}
    for module in model.modules():
        if hasattr(module, "experts") and any(hasattr(module, a) for a in ("gate", "router")):
            found[type(module).__name__] = type(module)
    return list(found.values())


def fill_config(config: dict, spec: TrainSpec, info: DistInfo, accumulation: int, hidden_size: int) -> dict:
    """Resolve the config's "auto" values from the recipe, as the HF integration does."""
    cfg = json.loads(json.dumps(config))
    micro = spec.per_device_batch_size
    resolved = {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accumulation,
        "train_batch_size": micro * accumulation * info.world_size,
        "gradient_clipping": spec.max_grad_norm,
    }
    for key, value in resolved.items():
        if cfg.get(key, "auto") not in ("auto", value):
            raise ValueError(f"DeepSpeed config sets {key}={cfg[key]} but the recipe implies {value}; set it to \"auto\".")
        cfg[key] = value
    cfg.setdefault("bf16", {})["enabled"] = spec.precision == "bf16"
    cfg.setdefault("optimizer", {"type": "AdamW", "params": {}})
    params = cfg["optimizer"].setdefault("params", {})
    defaults = {"lr": spec.lr, "betas": list(spec.adam_betas), "eps": spec.adam_eps, "weight_decay": spec.weight_decay}
    for key, value in defaults.items():
        if params.get(key, "auto") == "auto":
            params[key] = value
    if info.device.type == "cpu":
        params["torch_adam"] = True  # DeepSpeed's fused Adam needs CUDA
    zero = cfg.setdefault("zero_optimization", {})
    for key, value in {
        "reduce_bucket_size": hidden_size * hidden_size,
        "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
        "stage3_param_persistence_threshold": 10 * hidden_size,
    }.items():
        if zero.get(key) == "auto":
            zero[key] = value
    return cfg


def read_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"DeepSpeed config {path} not found; shipped ones are configs/deepspeed/zero{{2,2_offload,3}}.json.")
    return json.loads(path.read_text())


def zero_stage(config: dict) -> int:
    return int(config.get("zero_optimization", {}).get("stage", 0))


class DeepSpeedEngine:
    """`deepspeed.initialize` owns the optimizer (AdamW), the loss scaling for accumulation and the clipping."""

    name = "deepspeed"

    def __init__(self, info: DistInfo, spec: TrainSpec, accumulation: int, config: dict):
        self.info, self.spec, self.accumulation, self.raw_config = info, spec, accumulation, config

    def setup(self, model: nn.Module, groups: list[dict], total_steps: int, warmup_steps: int) -> None:
        try:
            import deepspeed
        except ImportError as e:
            raise ImportError("engine.kind=deepspeed needs DeepSpeed: pip install --no-build-isolation deepspeed") from e
        hidden = int(getattr(model.config.get_text_config(), "hidden_size", 1024))
        self.config = fill_config(self.raw_config, self.spec, self.info, self.accumulation, hidden)
        if zero_stage(self.config) == 3:
            from deepspeed.utils import set_z3_leaf_modules

            leaves = moe_block_classes(model)
            if leaves:
                set_z3_leaf_modules(model, leaves)
        self.model = model
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model,
            model_parameters=groups,
            config=self.config,
            lr_scheduler=lambda opt: get_cosine_schedule_with_warmup(opt, warmup_steps, total_steps),
            dist_init_required=False,
        )
        self.module = self.engine

    def forward_backward(self, batch: dict, sync: bool) -> torch.Tensor:
        """DeepSpeed tracks the accumulation boundary itself; `step()` after every micro-batch is its contract."""
        loss = self.engine(**batch).loss
        self.engine.backward(loss)
        self.engine.step()
        return loss.detach()

    def optimizer_step(self) -> float:
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def current_lr(self) -> float:
        """The schedule's current base lr (group lr divided by its multiplier)."""
        group = self.optimizer.param_groups[0]
        return group["lr"] / group.get("lr_mult", 1.0)

    def save_state(self, path: Path) -> None:
        self.engine.save_checkpoint(str(path), tag="deepspeed", exclude_frozen_parameters=True)

    def load_state(self, path: Path) -> None:
        self.engine.load_checkpoint(
            str(path), tag="deepspeed", load_optimizer_states=True, load_lr_scheduler_states=True, load_module_strict=False
        )

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        if zero_stage(self.config) == 3:
            if not self.config["zero_optimization"].get("stage3_gather_16bit_weights_on_model_save"):
                raise ValueError("ZeRO-3 final save needs zero_optimization.stage3_gather_16bit_weights_on_model_save: true.")
            sd = self.engine._zero3_consolidated_16bit_state_dict()  # collective; rank 0 gets the gathered weights
        else:
            sd = self.engine.module.state_dict()
        return sd if self.info.is_main else None
