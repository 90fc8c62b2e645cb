"""Every official `config.json` field we interpret, and what it means when the key is absent.

transformers (4.36-4.38, the versions the official checkpoints were saved with) writes `config.json` as a diff:
a key whose value equals the default is left out. So an absent key means "the default of the class that
wrote it": the LLM family's config class where MGM subclasses it (`MGMConfig(LlamaConfig)`,
`MGMGemmaConfig(GemmaConfig)`, ...), else `PretrainedConfig`. The `mm_*`/`image_*` fields are no
transformers fields at all: absent, they take the default the official code reads them with
(`getattr(config, name, default)`), or are required where the official code reads them bare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import AutoConfig

OFFICIAL_LLM_TYPES = {
    "mgm": "llama",
    "mgm_gemma": "gemma",
    "mgm_mixtral": "mixtral",
    "mgm_mistral": "mistral",
    "mini_gemini": "llama",
    "mini_gemini_gemma": "gemma",
    "mini_gemini_mixtral": "mixtral",
    "mini_gemini_mistral": "mistral",
}


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says what is missing and how to supply it."""


REQUIRED = object()  # the official code reads the field bare: absent, it fails
FAMILY = object()  # a field of the LLM family's config class: absent, that class's default applies


@dataclass(frozen=True)
class Field:
    """One official config field: its fallback when absent, and where that fallback comes from."""

    name: str
    fallback: Any
    source: str


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("model_type", REQUIRED, "transformers: selects the config class"),
    Field("tie_word_embeddings", FAMILY, "LlamaConfig/MixtralConfig/MistralConfig False, GemmaConfig True"),
    Field("tokenizer_model_max_length", None, "official getattr(config, 'tokenizer_model_max_length', None)"),
    Field("max_sequence_length", None, "not a PretrainedConfig field (older uploads carry it)"),
    Field("mm_vision_tower", REQUIRED, "official build_vision_tower reads config.mm_vision_tower"),
    Field("mm_vision_tower_aux", None, "official MGMMetaModel: no HR tower when absent"),
    Field("mm_vision_select_layer", REQUIRED, "official CLIPVisionTower reads args.mm_vision_select_layer"),
    Field("mm_vision_select_feature", "patch", "official getattr(args, 'mm_vision_select_feature', 'patch')"),
    Field("mm_projector_type", "linear", "official getattr(config, 'mm_projector_type', 'linear')"),
    Field("image_size_aux", 320, "official getattr(model_args, 'image_size_aux', 320)"),
    Field("image_grid", 1, "official getattr(self.config, 'image_grid', 1)"),
    Field("image_global", False, "official getattr(self.config, 'image_global', False)"),
    Field("image_aspect_ratio", None, "official getattr(model_cfg, 'image_aspect_ratio', None): no padding"),
)}


def read_field(raw: dict, name: str) -> Any:
    """The value of official field `name` in `raw` (a parsed config.json), or its fallback when absent."""
    field = FIELDS[name]
    if name in raw:
        return raw[name]
    if field.fallback is REQUIRED:
        raise CheckpointError(f"config.json has no {name!r}; the official code needs it ({field.source}).")
    if field.fallback is FAMILY:
        return getattr(AutoConfig.for_model(OFFICIAL_LLM_TYPES[raw["model_type"]]), name)
    return field.fallback


def model_max_length(raw: dict) -> int:
    """The context the model was trained for: tokenizer_model_max_length, else max_sequence_length, else 2048."""
    return read_field(raw, "tokenizer_model_max_length") or read_field(raw, "max_sequence_length") or 2048
