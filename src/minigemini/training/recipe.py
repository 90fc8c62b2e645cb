"""Typed training recipes: YAML -> `Recipe`, with `key=value` overrides and validation that names the fix."""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml


class RecipeError(ValueError):
    """A recipe is malformed; the message names the key, the problem and the fix."""


@dataclass
class ModelSpec:
    """What to build. Exactly one of `tiny`, `init_from` or `llm` (+ towers) describes the starting model."""

    tiny: dict | None = None  # kwargs for `minigemini.tiny.build_tiny_model_and_processor` (in-process, random)
    init_from: str | None = None  # one of our `from_pretrained` folders
    llm: str | None = None  # causal-LM path or hub id
    vision_tower: str | None = "openai/clip-vit-large-patch14-336"
    hr_tower: str | None = None  # transformers ConvNext folder/id; None = random init (benchmarks only)
    hr_tower_config: dict | None = None  # ConvNext config overrides when hr_tower is None
    aux_image_size: int = 768
    image_grid: int = 1
    image_global: bool = False
    mining: bool = True  # False: the LR-only (LLaVA-style) baseline, no HR tower
    aspect_ratio: Literal["pad", "square"] = "pad"
    template: str | None = None
    max_length: int = 2048
    adapter: str | None = None  # stage-1 projector+mining safetensors (instruct stage)
    hr_drop_path_in_training: bool = True
    attn_implementation: str = "sdpa"


@dataclass
class DataSpec:
    train: list[str] = field(default_factory=list)  # LLaVA JSON/JSONL files
    mixture: str | None = None  # a mixture YAML (alternative to `train`)
    image_root: str = "."
    group_by_modality_length: bool = False
    num_workers: int = 0


@dataclass
class TrainSpec:
    lr: float = 2e-5
    lr_multipliers: dict[str, float] = field(default_factory=dict)  # {"projector": 2, "mining": 2}
    epochs: int = 1
    max_steps: int | None = None  # optimizer steps; stops early
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    global_batch_size: int | None = None  # if set, accumulation = global / (per_device * world)
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    precision: Literal["bf16", "fp32"] = "bf16"
    gradient_checkpointing: bool = True
    seed: int = 42
    logging_steps: int = 1
    save_steps: int = 0  # 0 = only at the end
    save_total_limit: int = 2


@dataclass
class EngineSpec:
    kind: Literal["auto", "single", "ddp", "fsdp2", "deepspeed"] = "auto"
    deepspeed_config: str | None = None  # JSON path; required for kind=deepspeed


@dataclass
class LoraSpec:
    enabled: bool = False
    r: int = 64
    alpha: int = 16
    dropout: float = 0.05
    quantize: Literal[4, 8] | None = None  # QLoRA: needs bitsandbytes and CUDA


@dataclass
class LoggingSpec:
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "minigemini"


@dataclass
class Recipe:
    name: str
    stage: Literal["align", "instruct"]
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    engine: EngineSpec = field(default_factory=EngineSpec)
    lora: LoraSpec = field(default_factory=LoraSpec)
    logging: LoggingSpec = field(default_factory=LoggingSpec)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "Recipe":
        m, t = self.model, self.train
        sources = [k for k in ("tiny", "init_from", "llm") if getattr(m, k) is not None]
        if len(sources) != 1:
            raise RecipeError(
                f"model: give exactly one of model.tiny, model.init_from or model.llm (got {sources or 'none'})."
            )
        if not (self.data.train or self.data.mixture):
            raise RecipeError("data: set data.train (LLaVA JSON/JSONL paths) or data.mixture (a mixture YAML).")
        if self.data.train and self.data.mixture:
            raise RecipeError("data: set data.train or data.mixture, not both.")
        if self.stage == "align" and self.lora.enabled:
            raise RecipeError("lora.enabled applies to stage 'instruct' (stage 'align' trains no LLM weights).")
        if self.stage == "align" and m.adapter:
            raise RecipeError("model.adapter is the stage-1 output that stage 'instruct' loads; remove it from 'align'.")
        for key in ("lr", "per_device_batch_size", "gradient_accumulation_steps", "epochs", "logging_steps"):
            if getattr(t, key) <= 0:
                raise RecipeError(f"train.{key} must be > 0, got {getattr(t, key)}.")
        if not 0 <= t.warmup_ratio < 1:
            raise RecipeError(f"train.warmup_ratio must be in [0, 1), got {t.warmup_ratio}.")
        for name, mult in t.lr_multipliers.items():
            if name not in ("projector", "mining", "language_model"):
                raise RecipeError(
                    f"train.lr_multipliers: unknown module {name!r}; use projector, mining or language_model "
                    "(official model.mm_projector -> projector, model.vlm_uni -> mining)."
                )
            if mult <= 0:
                raise RecipeError(f"train.lr_multipliers.{name} must be > 0, got {mult}.")
        if self.engine.kind == "deepspeed" and not self.engine.deepspeed_config:
            raise RecipeError("engine.kind=deepspeed needs engine.deepspeed_config (e.g. configs/deepspeed/zero2.json).")
        if self.lora.quantize is not None and not self.lora.enabled:
            raise RecipeError("lora.quantize (QLoRA) needs lora.enabled: true.")
        return self


def recipe_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two `Recipe.to_dict()` dicts (compared as JSON values)."""
    import json

    old, new = json.loads(json.dumps(old)), json.loads(json.dumps(new))
    changed = []
    for key in sorted(set(old) | set(new), key=str):
        a, b, where = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict) and key in _SECTIONS and not prefix:
            changed += recipe_changes(a, b, f"{where}.")
        elif a != b:
            changed.append(where)
    return changed


_SECTIONS = {"model": ModelSpec, "data": DataSpec, "train": TrainSpec, "engine": EngineSpec, "lora": LoraSpec, "logging": LoggingSpec}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin is types.UnionType:
        origin = Union
    if value is None:
        if hint is type(None) or (origin is Union and type(None) in args):
            return None
        raise RecipeError(f"{where} may not be null.")
    if origin is Union:
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except RecipeError as e:
                errors.append(str(e))
        raise RecipeError(errors[0] if errors else f"{where}: bad value {value!r}.")
    if origin is Literal:
        if value not in args:
            raise RecipeError(f"{where} must be one of {list(args)}, got {value!r}.")
        return value
    if origin is list:
        items = value if isinstance(value, list) else [value]
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(items)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise RecipeError(f"{where} must be a list of {len(args)} values, got {value!r}.")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where} must be a mapping, got {value!r}.")
        if args:
            return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RecipeError(f"{where} must be a number, got {value!r}.")
        try:
            return float(value)
        except ValueError:
            raise RecipeError(f"{where} must be a number, got {value!r}.") from None
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where} must be an integer, got {value!r}.")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where} must be true or false, got {value!r}.")
        return value
    if hint is str:
        if not isinstance(value, (str, int, float)):
            raise RecipeError(f"{where} must be a string, got {value!r}.")
        return str(value)
    return value


def _build(cls: type, data: dict, where: str):
    if not isinstance(data, dict):
        raise RecipeError(f"{where} must be a mapping, got {type(data).__name__}.")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(known)}.")
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        if name in _SECTIONS and cls is Recipe:
            kwargs[name] = _build(_SECTIONS[name], value or {}, key)
        else:
            kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise RecipeError(f"{where or 'recipe'}: {e}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=1e-4` -> (["train", "lr"], 1e-4); the value is parsed as YAML."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: use key=value, e.g. --set train.lr=1e-4.")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = dict(data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RecipeError(f"--set {text!r}: {part!r} is not a section.")
        node[path[-1]] = value
    return data


def recipe_from_dict(data: dict, overrides: list[str] | None = None) -> Recipe:
    import copy

    data = apply_overrides(copy.deepcopy(data), overrides or [])
    for key in ("name", "stage"):
        if key not in data:
            raise RecipeError(f"recipe: missing required key {key!r}.")
    return _build(Recipe, data, "").validate()


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML and apply `key=value` overrides."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"recipe file {path} not found; ship recipes live in recipes/*.yaml.")
    data = yaml.safe_load(path.read_text()) or {}
    return recipe_from_dict(data, overrides)
