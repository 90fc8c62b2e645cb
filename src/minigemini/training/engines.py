"""Training engines behind one interface: single process, DDP, FSDP2 (torch) and DeepSpeed ZeRO-2/3.

The loop only calls `setup`, `forward_backward`, `optimizer_step`, `save_state`/`load_state` and
`full_state_dict`, so one code path covers every launcher (plain python, torchrun, accelerate launch).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from transformers import get_cosine_schedule_with_warmup

from .distributed import DistInfo
from .recipe import TrainSpec


def trainable_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


class TorchEngine:
    """Single process: AdamW + cosine schedule, autocast for bf16, gradient clipping, accumulation."""

    name = "single"

    def __init__(self, info: DistInfo, spec: TrainSpec, accumulation: int):
        self.info, self.spec, self.accumulation = info, spec, accumulation

    # ---- setup ------------------------------------------------------------------------------------
    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def setup(self, model: nn.Module, groups: list[dict], total_steps: int, warmup_steps: int) -> None:
        self.model = model.to(self.info.device)
        self._trainable = trainable_names(model)  # canonical names, before any wrapper renames them
        self.module = self.wrap(self.model)
        params = [p for p in self.module.parameters() if p.requires_grad]
        groups = self._rebind(groups)
        self.optimizer = torch.optim.AdamW(groups, betas=self.spec.adam_betas, eps=self.spec.adam_eps)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup_steps, total_steps)
        self._params = params

    def _rebind(self, groups: list[dict]) -> list[dict]:
        """Parameter groups pointing at the wrapped module's parameters (the same objects unless sharded)."""
        return groups

    # ---- one step ---------------------------------------------------------------------------------
    def sync_context(self, sync: bool):
        return contextlib.nullcontext()

    def autocast(self):
        enabled = self.spec.precision == "bf16"
        return torch.autocast(self.info.device.type, dtype=torch.bfloat16, enabled=enabled)

    def forward_backward(self, batch: dict, sync: bool) -> torch.Tensor:
        """Forward and backward on one micro-batch; gradients are reduced across ranks only when `sync`."""
        with self.sync_context(sync):
            with self.autocast():
                loss = self.module(**batch).loss
            (loss / self.accumulation).backward()
        return loss.detach()

    def optimizer_step(self) -> float:
        norm = torch.nn.utils.clip_grad_norm_(self._params, self.spec.max_grad_norm or float("inf"))
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def current_lr(self) -> float:
        """The schedule's current base lr (group lr divided by its multiplier)."""
        group = self.optimizer.param_groups[0]
        return group["lr"] / group.get("lr_mult", 1.0)

    # ---- state ------------------------------------------------------------------------------------
    def _options(self, load: bool = False) -> StateDictOptions:
        dist = self.info.distributed
        return StateDictOptions(full_state_dict=True, cpu_offload=True, broadcast_from_rank0=load and dist, strict=False)

    def save_state(self, path: Path) -> None:
        """Trainable weights, optimizer and scheduler as full (unsharded) state; collective, rank 0 writes."""
        model_sd = get_model_state_dict(self.module, options=self._options())
        optim_sd = get_optimizer_state_dict(self.module, self.optimizer, options=self._options())
        if self.info.is_main:
            torch.save({k: v for k, v in model_sd.items() if k in self._trainable}, path / "model.pt")
            torch.save(optim_sd, path / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), path / "scheduler.pt")

    def load_state(self, path: Path) -> None:
        main = self.info.is_main or not self.info.distributed
        model_sd = torch.load(path / "model.pt", weights_only=True) if main else {}
        optim_sd = torch.load(path / "optimizer.pt", weights_only=True) if main else {}
        set_model_state_dict(self.module, model_sd, options=self._options(load=True))
        set_optimizer_state_dict(self.module, self.optimizer, optim_sd, options=self._options(load=True))
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        """The whole model's weights on rank 0 (None elsewhere); collective."""
        sd = get_model_state_dict(self.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return sd if self.info.is_main else None


class DDPEngine(TorchEngine):
    """torch DistributedDataParallel; `find_unused_parameters` when text-only batches skip the vision path."""

    name = "ddp"

    def __init__(self, info: DistInfo, spec: TrainSpec, accumulation: int, find_unused: bool = False):
        super().__init__(info, spec, accumulation)
        self.find_unused = find_unused

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.info.local_rank] if self.info.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=self.find_unused)

    def sync_context(self, sync: bool):
        return contextlib.nullcontext() if sync else self.module.no_sync()


class FSDP2Engine(TorchEngine):
    """torch FSDP2 (`fully_shard`): each LLM decoder layer is a shard unit, the rest is the root unit."""

    name = "fsdp2"

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.distributed.fsdp import fully_shard

        layer_names = set(getattr(self._llm(model), "_no_split_modules", None) or [])
        for module in model.modules():
            if type(module).__name__ in layer_names:
                fully_shard(module)
        return fully_shard(model)

    @staticmethod
    def _llm(model: nn.Module) -> nn.Module:
        for module in model.modules():
            if hasattr(module, "language_model") and isinstance(module.language_model, nn.Module):
                return module.language_model
        return model

    def setup(self, model: nn.Module, groups: list[dict], total_steps: int, warmup_steps: int) -> None:
        names = {id(p): n for n, p in model.named_parameters()}
        self._group_names = [[names[id(p)] for p in g["params"]] for g in groups]
        super().setup(model, groups, total_steps, warmup_steps)

    def _rebind(self, groups: list[dict]) -> list[dict]:
        params = dict(self.module.named_parameters())  # fully_shard swapped in DTensor parameters
        return [{**g, "params": [params[n] for n in names]} for g, names in zip(groups, self._group_names)]

    def sync_context(self, sync: bool):
        self.module.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()
