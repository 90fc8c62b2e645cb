"""Official MGM checkpoints (YanweiLi/MGM-*) translated into ours: a `MiniGeminiConfig`, a state dict in our
key names, and the tokenizer. A pure translation: building the model or processor is their classes' job.

Official folders hold a Llama/Gemma/Mixtral config with `mm_*` fields, bf16 shards with an index, and
relative tower paths such as `model_zoo/OpenAI/clip-vit-large-patch14-336`. The geometry (towers, image
tokens, context) is computed once, into the config, from `config.json` and tensor shapes; tower folders
are needed only when the checkpoint lacks the towers' weights.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer, CLIPVisionConfig, PreTrainedTokenizerBase

from ..configuration import MiniGeminiConfig
from ..constants import IMAGE_TOKEN
from ..quiet import quiet_transformers
from ..templates import infer_template
from .fields import OFFICIAL_LLM_TYPES, CheckpointError, model_max_length, read_field
from .keys import HR_TOWER, LR_TOWER, MINING, official_key
from .shards import read_shapes, read_tensors, shard_files
from .towers import (clip_config_from_shapes, convnext_config_from_shapes, local_tower, resolve_tower,
                     tower_files)

_NOT_LLM = re.compile(r"^(mm_|image_|vision_|optimize_|tune_|freeze_|use_mm_proj|tokenizer_|architectures$|model_type$)")


@dataclass
class OfficialCheckpoint:
    """What an official folder means in our terms. `state_dict` is None when only the geometry was read."""

    config: MiniGeminiConfig
    tokenizer: PreTrainedTokenizerBase
    state_dict: dict[str, torch.Tensor] | None


def read_config(path: Path) -> dict:
    cfg = path / "config.json"
    if not cfg.exists():
        raise CheckpointError(f"{path}: no config.json. Pass a checkpoint folder (ours or an official MGM one).")
    return json.loads(cfg.read_text())


def is_official_checkpoint(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "config.json").exists() and read_config(path).get("model_type") in OFFICIAL_LLM_TYPES


def local_checkpoint(name_or_path: str | os.PathLike) -> Path | None:
    """A local folder for `name_or_path`: the folder itself, or, for a hub id whose config says it is an
    official MGM checkpoint, a snapshot download of it (None for other hub ids: transformers handles those)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.is_absolute() or str(name_or_path).count("/") != 1:
        return None
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        config = json.loads(Path(hf_hub_download(str(name_or_path), "config.json")).read_text())
    except Exception:  # offline, missing or gated: let transformers report it in its own words
        return None
    if config.get("model_type") not in OFFICIAL_LLM_TYPES:
        return None
    return Path(snapshot_download(str(name_or_path), allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.bin"]))


def check_model_type(path: str | os.PathLike) -> None:
    """Refuse a local folder that is neither ours nor an official MGM checkpoint, before building anything."""
    path = Path(path)
    if not (path / "config.json").exists():
        return
    model_type = read_config(path).get("model_type")
    if model_type != MiniGeminiConfig.model_type and model_type not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(
            f"{path}: model_type {model_type!r} is neither 'minigemini' nor an official MGM type "
            f"({', '.join(sorted(OFFICIAL_LLM_TYPES))}). Point --model at a Mini-Gemini checkpoint."
        )


def official_tokenizer(path: Path, llm_config) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer with the official pad policy: unk (Llama/Mixtral/Yi), else LLaMA-3's
    reserved token, else eos; Gemma keeps its own pad."""
    tok = AutoTokenizer.from_pretrained(path, config=llm_config)
    if tok.pad_token is None:
        reserved = "<|reserved_special_token_0|>"
        tok.pad_token = tok.unk_token or (reserved if reserved in tok.get_vocab() else tok.eos_token)
    return tok


def _add_tower(kind: str, name: str | None, path: Path, override: str | None, shapes: dict, state: dict | None) -> Path | None:
    """Bring a tower missing from the checkpoint in from its folder (shapes, and tensors when `state` is given).

    Returns the local folder used, or None when only a hub id is known and no weights are wanted."""
    loc = resolve_tower(name, path, override)
    if loc is None:
        what = "LR vision tower" if kind == "lr" else "HR tower"
        raise CheckpointError(f"{path}: the {what} is neither in the checkpoint nor given; pass --{kind}-tower PATH.")
    if state is None and not Path(loc).is_dir():
        return None  # geometry only: the official tower's, which is our config's default
    folder = local_tower(loc, kind)
    files, rename = tower_files(folder, kind)
    if state is None:
        shapes.update(read_shapes(files, rename))
    else:
        tensors = read_tensors(files, rename)
        state.update(tensors)
        shapes.update({k: tuple(v.shape) for k, v in tensors.items()})
    return folder


def read_official(path: str | os.PathLike, *, lr_tower: str | None = None, hr_tower: str | None = None,
                  template: str | None = None, weights: bool = True) -> OfficialCheckpoint:
    """Translate an official folder. `weights=False` reads only config.json, the tokenizer and shard headers."""
    path = Path(path)
    raw = read_config(path)
    if raw.get("model_type") not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(
            f"{path}: model_type {raw.get('model_type')!r} is not an MGM type; expected one of {sorted(OFFICIAL_LLM_TYPES)}."
        )
    llm_type = OFFICIAL_LLM_TYPES[raw["model_type"]]
    files = shard_files(path)
    state = read_tensors(files, official_key) if weights else None
    shapes = {k: tuple(v.shape) for k, v in state.items()} if weights else read_shapes(files, official_key)

    lr_folder = None
    if not any(k.startswith(LR_TOWER) for k in shapes):
        lr_folder = _add_tower("lr", read_field(raw, "mm_vision_tower"), path, lr_tower, shapes, state)
    else:
        loc = resolve_tower(read_field(raw, "mm_vision_tower"), path, lr_tower)
        lr_folder = Path(loc) if loc and Path(loc).is_dir() else None
    if lr_folder is not None and (lr_folder / "config.json").exists():
        vision_config = CLIPVisionConfig.from_pretrained(lr_folder)
    elif any(k.startswith(LR_TOWER) for k in shapes):
        vision_config = clip_config_from_shapes(shapes)
    else:
        vision_config = None  # the official CLIP ViT-L/14-336, our default

    aux_name = read_field(raw, "mm_vision_tower_aux")
    mining = aux_name is not None and any(k.startswith(MINING) for k in shapes)
    if mining and not any(k.startswith(HR_TOWER) for k in shapes):
        _add_tower("hr", aux_name, path, hr_tower, shapes, state)
    aux_config = convnext_config_from_shapes(shapes) if any(k.startswith(HR_TOWER) for k in shapes) else None

    text = {k: v for k, v in raw.items() if not _NOT_LLM.match(k) and not k.startswith("_")}
    with quiet_transformers():  # e.g. its note on Gemma's legacy hidden_act, which the user cannot change
        text_config = AutoConfig.for_model(llm_type, **text)
        tokenizer = official_tokenizer(path, text_config)
    config = MiniGeminiConfig(
        text_config=text_config,
        vision_config=vision_config,
        aux_vision_config=aux_config if mining else None,
        vision_feature_layer=read_field(raw, "mm_vision_select_layer"),
        vision_feature_select="cls_patch" if read_field(raw, "mm_vision_select_feature") == "cls_patch" else "patch",
        aux_image_size=read_field(raw, "image_size_aux"),
        image_grid=read_field(raw, "image_grid"),
        image_global=bool(read_field(raw, "image_global")),
        image_aspect_ratio="pad" if read_field(raw, "image_aspect_ratio") == "pad" else "square",
        projector_type=read_field(raw, "mm_projector_type"),
        mining=mining,
        image_token_id=tokenizer.get_vocab().get(IMAGE_TOKEN, len(tokenizer)),
        tokenizer_model_max_length=model_max_length(raw),
        template=template or infer_template(raw["model_type"], llm_type, tokenizer),
        tie_word_embeddings=bool(read_field(raw, "tie_word_embeddings")),
    )
    return OfficialCheckpoint(config=config, tokenizer=tokenizer, state_dict=state)


__all__ = ["CheckpointError", "OFFICIAL_LLM_TYPES", "OfficialCheckpoint", "check_model_type", "is_official_checkpoint",
           "local_checkpoint", "read_official"]
