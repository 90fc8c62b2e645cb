"""An official folder in our terms: `MiniGeminiConfig` (its geometry computed here, once), state dict, tokenizer."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, CLIPVisionConfig, PreTrainedTokenizerBase

from ..configuration import MiniGeminiConfig
from ..constants import IMAGE_TOKEN
from ..quiet import quiet_transformers
from ..templates import infer_template
from .fields import OFFICIAL_LLM_TYPES, CheckpointError, model_max_length, read_field
from .folders import read_config
from .keys import HR_TOWER, LR_TOWER, MINING, official_key
from .shards import read_shapes, read_tensors, shard_files
from .tokenizer import official_tokenizer
from .towers import clip_config_from_shapes, convnext_config_from_shapes, local_tower, resolve_tower, tower_files

_NOT_LLM = re.compile(r"^(mm_|image_|vision_|optimize_|tune_|freeze_|use_mm_proj|tokenizer_|architectures$|model_type$)")


@dataclass
class OfficialCheckpoint:
    """What an official folder means in our terms. `state_dict` is None when only the geometry was read."""

    config: MiniGeminiConfig
    tokenizer: PreTrainedTokenizerBase
    state_dict: dict[str, torch.Tensor] | None


def _add_tower(kind: str, name: str | None, path: Path, override: str | None, shapes: dict, state: dict | None,
               dtype: torch.dtype | None = None) -> Path | None:
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
        tensors = read_tensors(files, rename, dtype)
        state.update(tensors)
        shapes.update({k: tuple(v.shape) for k, v in tensors.items()})
    return folder


def _lr_vision_config(name: str, path: Path, override: str | None, shapes: dict, state: dict | None,
                      dtype: torch.dtype | None):
    """The LR tower's config: its folder's config.json when one resolves locally, else from its tensor shapes,
    else None (only a hub id of the official CLIP ViT-L/14-336 is known: our default config)."""
    if not any(k.startswith(LR_TOWER) for k in shapes):
        folder = _add_tower("lr", name, path, override, shapes, state, dtype)
    else:
        loc = resolve_tower(name, path, override)
        folder = Path(loc) if loc and Path(loc).is_dir() else None
    if folder is not None and (folder / "config.json").exists():
        return CLIPVisionConfig.from_pretrained(folder)
    return clip_config_from_shapes(shapes) if any(k.startswith(LR_TOWER) for k in shapes) else None


def read_official(path: str | os.PathLike, *, lr_tower: str | None = None, hr_tower: str | None = None,
                  template: str | None = None, weights: bool = True, dtype: torch.dtype | None = None) -> OfficialCheckpoint:
    """Translate an official folder. `weights=False` reads only config.json, the tokenizer and shard headers;
    `dtype` converts the weights file by file as they are read (None: as stored)."""
    path = Path(path)
    raw = read_config(path)
    if raw.get("model_type") not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(
            f"{path}: model_type {raw.get('model_type')!r} is not an MGM type; expected one of {sorted(OFFICIAL_LLM_TYPES)}."
        )
    llm_type = OFFICIAL_LLM_TYPES[raw["model_type"]]
    files = shard_files(path)
    state = read_tensors(files, official_key, dtype) if weights else None
    shapes = {k: tuple(v.shape) for k, v in state.items()} if weights else read_shapes(files, official_key)

    vision_config = _lr_vision_config(read_field(raw, "mm_vision_tower"), path, lr_tower, shapes, state, dtype)
    aux_name = read_field(raw, "mm_vision_tower_aux")
    mining = aux_name is not None and any(k.startswith(MINING) for k in shapes)
    if mining and not any(k.startswith(HR_TOWER) for k in shapes):
        _add_tower("hr", aux_name, path, hr_tower, shapes, state, dtype)
    aux_config = convnext_config_from_shapes(shapes) if any(k.startswith(HR_TOWER) for k in shapes) else None
    if not mining and state is not None:  # as the official model: without an HR tower, no mining runs
        state = {k: v for k, v in state.items() if not k.startswith((HR_TOWER, MINING))}

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
