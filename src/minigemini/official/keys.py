"""Official MGM state-dict key names -> ours.

LLM keys keep the layout the checkpoint was saved with (e.g. Mixtral's 4.36 `block_sparse_moe.experts.E.w1`):
transformers' own checkpoint-conversion mapping turns them into today's layout when the model loads them.
"""

from __future__ import annotations

import re

_CONVNEXT_RULES = [
    (r"stem\.0\.", "embeddings.patch_embeddings."),
    (r"stem\.1\.", "embeddings.layernorm."),
    (r"stages\.(\d+)\.downsample\.(\d)\.", r"stages.\1.downsampling_layer.\2."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.", r"stages.\1.layers.\2.dwconv."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.norm\.", r"stages.\1.layers.\2.layernorm."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.", r"stages.\1.layers.\2.pwconv1."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.", r"stages.\1.layers.\2.pwconv2."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.gamma$", r"stages.\1.layers.\2.layer_scale_parameter"),
]

_PREFIXES = {
    "model.mm_projector.": "projector.",
    "model.vlm_uni_query_projector.": "mining.query_projector.",
    "model.vlm_uni_aux_projector.": "mining.key_projector.",
    "model.vlm_uni_val_projector.": "mining.value_projector.",
    "model.vision_tower.vision_tower.vision_model.": "vision_tower.model.",
    "lm_head.": "language_model.lm_head.",
}

LR_TOWER = "vision_tower.model."
HR_TOWER = "aux_vision_tower."
MINING = "mining."


def convnext_key(timm_key: str) -> str | None:
    """timm/open_clip ConvNeXt trunk key (`stem.0.weight`, `stages.2.blocks.5.mlp.fc1.bias`) -> our HR tower key."""
    for pattern, repl in _CONVNEXT_RULES:
        new, n = re.subn("^" + pattern, repl, timm_key)
        if n:
            return HR_TOWER + new
    return None


def official_key(key: str) -> str | None:
    """Official MGM state-dict key -> ours (None for keys we do not use)."""
    for old, new in _PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    if key.startswith("model.vision_tower_aux.vision_"):
        return convnext_key(key[len("model.vision_tower_aux.vision_") :])
    if key.startswith("model.vision_tower") or key.startswith("model.vision_fpn"):
        return None
    if key.startswith("model."):
        return "language_model." + key
    return None


def clip_tower_key(key: str) -> str | None:
    """HF CLIP folder key (`vision_model.encoder...`) -> our LR tower key (None for the text half)."""
    return LR_TOWER + key[len("vision_model.") :] if key.startswith("vision_model.") else None


def open_clip_tower_key(key: str) -> str | None:
    """open_clip checkpoint key (`visual.trunk.stages...`) -> our HR tower key (None outside the trunk)."""
    return convnext_key(key[len("visual.trunk.") :]) if key.startswith("visual.trunk.") else None
