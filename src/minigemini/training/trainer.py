"""`run_training`: one MGM training stage (alignment or instruction tuning, as the recipe says); one code path for every engine and launcher."""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from .checkpointing import (
    TrainerState,
    checkpoint_recipe,
    clear_stale_tmp,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from .data import BatchPlan, build_dataset, make_collator, make_loader, skip_counts
from .distributed import DistInfo, all_reduce_sum, barrier, gather_objects, init_distributed
from .metrics import MetricsLogger, plot_loss, read_metrics
from .output_dir import check_recipe_unchanged, prepare_output_dir, remove_run_outputs
from .recipe import Recipe, RecipeError, recipe_from_dict
from .stages import ADAPTER_FILE, ADAPTER_MODULES, load_adapter, param_groups, save_adapter, set_trainable


@dataclass
class TrainingResult:
    output_dir: Path
    final_dir: Path
    log_path: Path
    losses: list[float]
    steps: int
    adapter_path: Path | None = None  # align: projector + mining safetensors
    lora_dir: Path | None = None  # instruct with LoRA: the adapter folder
    bad_samples: Counter = field(default_factory=Counter)
    model: torch.nn.Module | None = None  # the trained model in this process (sharded under FSDP2/ZeRO-3)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _accumulation(recipe: Recipe, info: DistInfo) -> int:
    t = recipe.train
    if t.global_batch_size is None:
        return t.gradient_accumulation_steps
    per_step = t.per_device_batch_size * info.world_size
    if t.global_batch_size % per_step:
        raise RecipeError(
            f"train.global_batch_size={t.global_batch_size} is not a multiple of per_device_batch_size x processes "
            f"= {t.per_device_batch_size} x {info.world_size}; change the batch size or the number of processes."
        )
    return t.global_batch_size // per_step


def _make_engine(recipe: Recipe, info: DistInfo, accumulation: int, text_only: bool):
    kind = recipe.engine.kind
    if kind == "auto":
        kind = "deepspeed" if recipe.engine.deepspeed_config else ("ddp" if info.distributed else "single")
    if kind in ("ddp", "fsdp2") and not info.distributed:
        kind = "single"
    if kind == "deepspeed":
        from .deepspeed_engine import DeepSpeedEngine, read_config

        return DeepSpeedEngine(info, recipe.train, accumulation, read_config(recipe.engine.deepspeed_config))
    from .engines import DDPEngine, FSDP2Engine, TorchEngine

    if kind == "ddp":
        return DDPEngine(info, recipe.train, accumulation, find_unused=text_only)
    if kind == "fsdp2":
        return FSDP2Engine(info, recipe.train, accumulation)
    return TorchEngine(info, recipe.train, accumulation)


def _zero3_context(recipe: Recipe, info: DistInfo, accumulation: int):
    """With ZeRO-3, transformers must build a pretrained LLM partitioned (zero.Init); keep the object alive."""
    if not recipe.engine.deepspeed_config or recipe.model.tiny is not None:
        return None
    from transformers import AutoConfig

    from .deepspeed_engine import fill_config, read_config, zero_stage

    cfg = read_config(recipe.engine.deepspeed_config)
    if zero_stage(cfg) != 3:
        return None
    from transformers.integrations import HfDeepSpeedConfig

    source = AutoConfig.from_pretrained(recipe.model.llm or recipe.model.init_from)
    hidden = int(source.get_text_config().hidden_size)
    return HfDeepSpeedConfig(fill_config(cfg, recipe.train, info, accumulation, hidden))


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def run_training(
    recipe: Recipe | dict,
    output_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    strict: bool = False,
    overwrite: bool = False,
    accept_recipe_change: bool = False,
) -> TrainingResult:
    """Train one stage as the recipe says; works in-process, under torchrun or `accelerate launch`.

    DIR gets metrics.jsonl, tensorboard/, checkpoints/, loss.png, bad_samples.json and final/ (our
    `from_pretrained` folder); stage `align` also writes mm_adapter.safetensors, LoRA runs final-lora/.
    A non-empty DIR is refused unless `resume` (continue its run) or `overwrite` (delete its run outputs);
    resuming with a recipe that differs from the checkpoint's is refused unless `accept_recipe_change`.
    """
    from .build import build_model_and_processor
    from .lora import apply_lora, quantization_config

    recipe = recipe if isinstance(recipe, Recipe) else recipe_from_dict(recipe)
    recipe.validate()
    out = Path(output_dir)
    info = init_distributed()
    t = recipe.train
    ckpt_root = out / "checkpoints"
    prepare_output_dir(out, resume=resume, overwrite=overwrite)
    resumed_from = latest_checkpoint(ckpt_root) if resume else None
    if resumed_from is not None:
        check_recipe_unchanged(checkpoint_recipe(resumed_from), recipe.to_dict(), resumed_from, accept_recipe_change)
    barrier()
    if info.is_main:
        if overwrite:
            remove_run_outputs(out)
        out.mkdir(parents=True, exist_ok=True)
        clear_stale_tmp(ckpt_root)
        (out / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    _seed_everything(t.seed)
    accumulation = _accumulation(recipe, info)
    zero3 = _zero3_context(recipe, info, accumulation)  # noqa: F841  (must outlive model construction)

    model, processor = build_model_and_processor(recipe.model, quantization_config(recipe.lora))
    if recipe.model.adapter:
        load_adapter(model, recipe.model.adapter)
    if recipe.lora.enabled:
        model = apply_lora(model, recipe.lora)
    set_trainable(model, recipe.stage, lora=recipe.lora.enabled)
    if t.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.train()

    dataset = build_dataset(recipe, processor, strict=strict)
    lengths = getattr(dataset, "modality_lengths", None)
    plan = BatchPlan(
        len(dataset), t.per_device_batch_size, info.world_size, info.rank, t.seed,
        modality_lengths=lengths if recipe.data.group_by_modality_length else None,
    )
    steps_per_epoch = len(plan.batches(0)) // accumulation
    if steps_per_epoch == 0:
        raise RecipeError(f"one epoch has fewer micro-batches than gradient_accumulation_steps={accumulation}.")
    total_steps = steps_per_epoch * t.epochs
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps)
    warmup_steps = math.ceil(total_steps * t.warmup_ratio)

    text_only = bool(lengths) and any(n < 0 for n in lengths)
    engine = _make_engine(recipe, info, accumulation, text_only)
    groups = param_groups(model, t.lr, t.weight_decay, t.lr_multipliers)
    engine.setup(model, groups, total_steps, warmup_steps)

    state = TrainerState()
    if resumed_from is not None:
        state = load_checkpoint(engine, resumed_from, info)
        restore_rng(resumed_from, info)
    logger = None
    if info.is_main:
        logger = MetricsLogger(
            out, start_step=state.global_step, tensorboard=recipe.logging.tensorboard, wandb=recipe.logging.wandb,
            project=recipe.logging.wandb_project, config=recipe.to_dict(),
        )
    bar = None
    if progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=state.global_step, desc=f"{recipe.name} [{recipe.stage}]", dynamic_ncols=True)

    samples_per_step = t.per_device_batch_size * accumulation * info.world_size
    loss_sum, loss_n, tokens = torch.zeros((), device=info.device), 0, 0
    window_start, window_steps = time.perf_counter(), 0
    done = state.global_step >= total_steps
    for epoch in range(state.epoch, t.epochs):
        if done:
            break
        batches = plan.batches(epoch)
        usable = len(batches) // accumulation * accumulation
        start = state.batch_in_epoch if epoch == state.epoch else 0
        loader = iter(make_loader(dataset, batches[start:usable], make_collator(processor), recipe.data.num_workers, t.seed + epoch))
        for group_start in range(start, usable, accumulation):
            for j in range(accumulation):
                batch = _to_device(next(loader), info.device)
                tokens += int(batch["attention_mask"].sum())
                loss_sum += engine.forward_backward(batch, sync=j == accumulation - 1)
                loss_n += 1
            grad_norm = engine.optimizer_step()
            state.global_step += 1
            state.epoch, state.batch_in_epoch = epoch, group_start + accumulation
            window_steps += 1
            last = state.global_step >= total_steps
            if state.global_step % t.logging_steps == 0 or last:
                total_loss, total_n, total_tokens = all_reduce_sum([float(loss_sum), loss_n, tokens], info.device)
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                record = {
                    "step": state.global_step,
                    "epoch": round(epoch + state.batch_in_epoch / usable, 4),
                    "loss": total_loss / total_n,
                    "lr": engine.current_lr(),
                    "grad_norm": grad_norm,
                    "samples_per_s": samples_per_step * window_steps / elapsed,
                    "tokens_per_s": total_tokens / elapsed,
                }
                if logger is not None:
                    logger.log(record)
                if bar is not None:
                    bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}", sps=f"{record['samples_per_s']:.1f}")
                loss_sum.zero_()
                loss_n, tokens, window_steps, window_start = 0, 0, 0, time.perf_counter()
            if bar is not None:
                bar.update(1)
            if t.save_steps and state.global_step % t.save_steps == 0 and not last:
                save_checkpoint(engine, ckpt_root, state, info, t.save_total_limit, recipe.to_dict())
            if last:
                done = True
                break
        else:
            state.epoch, state.batch_in_epoch = epoch + 1, 0
    if bar is not None:
        bar.close()
    if t.save_steps:
        save_checkpoint(engine, ckpt_root, state, info, t.save_total_limit, recipe.to_dict())

    bad = Counter()
    for counts, _, _ in gather_objects(skip_counts(dataset)):
        bad.update(counts)
    final_sd = engine.full_state_dict()
    result = _write_outputs(recipe, out, model, processor, final_sd, info)
    if info.is_main:
        logger.close()
        records = read_metrics(logger.path)
        plot_loss(records, out / "loss.png", f"{recipe.name} ({recipe.stage})")
        _report_bad_samples(out, dataset, bad)
        result.losses = [r["loss"] for r in records]
    result.steps, result.bad_samples, result.model = state.global_step, bad, model
    barrier()
    return result


def _write_outputs(recipe, out, model, processor, final_sd, info) -> TrainingResult:
    """Rank 0 writes final/ (plus the align adapter or the LoRA folder) from the gathered weights."""
    from .lora import merge_lora, save_lora_adapter

    final_dir = out / "final"
    result = TrainingResult(out, final_dir, out / "metrics.jsonl", [], 0)
    if not info.is_main:
        return result
    if recipe.lora.enabled:
        result.lora_dir = save_lora_adapter(model, final_sd, out / "final-lora", recipe, processor)
        merge_lora(result.lora_dir, final_dir)
        return result
    if recipe.stage == "align":
        mm = {k: v for k, v in final_sd.items() if k.split(".", 1)[0] in ADAPTER_MODULES}
        result.adapter_path = save_adapter(mm, out / ADAPTER_FILE)
    model.save_pretrained(final_dir, state_dict=dict(final_sd))
    processor.save_pretrained(final_dir)
    return result


def _report_bad_samples(out: Path, dataset, bad: Counter) -> None:
    import json

    _, substituted, examples = skip_counts(dataset)
    (out / "bad_samples.json").write_text(json.dumps({"counts": dict(bad), "examples": examples}, indent=2))
    if bad:
        by_reason = ", ".join(f"{r}={n}" for r, n in sorted(bad.items()))
        print(f"[minigemini] skipped {sum(bad.values())} bad samples ({by_reason}); examples:\n  " + "\n  ".join(examples))
    else:
        print("[minigemini] no bad samples")
