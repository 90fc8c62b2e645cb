"""vLLM's multimodal processing for Mini-Gemini: our processor makes the pixels, vLLM expands the markers.

Each image becomes `pixel_values` [V, 3, s, s] (its LR views, [global, crop00, ...] in HD) and, when the
model mines, `pixel_values_aux` [3, H, H] (its HR view); both are batched per image. Each `<image>` token of
the prompt is replaced by `image_seq_length` copies of `image_token_id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from transformers import BatchFeature
from vllm.multimodal.inputs import MultiModalFieldConfig
from vllm.multimodal.processing import (
    BaseDummyInputsBuilder,
    BaseMultiModalProcessor,
    BaseProcessingInfo,
    PromptReplacement,
)

from ..constants import IMAGE_TOKEN


@lru_cache(maxsize=4)
def load_processor(model_dir: str):
    """Our processor for a checkpoint folder, loaded once per process."""
    from ..processing import MiniGeminiProcessor

    return MiniGeminiProcessor.from_pretrained(model_dir)


class MiniGeminiProcessingInfo(BaseProcessingInfo):
    def get_hf_processor(self, **kwargs: object):
        return load_processor(self.ctx.model_config.model)

    def get_supported_mm_processor_kwargs(self) -> dict[str, set[str]]:
        return {"text_kwargs": set(), "images_kwargs": set()}

    def get_supported_mm_limits(self) -> Mapping[str, int | None]:
        return {"image": None}

    def get_mm_max_tokens_per_item(self, seq_len: int, mm_counts: Mapping[str, int]) -> Mapping[str, int]:
        return {"image": self.get_hf_config().image_seq_length}


class MiniGeminiDummyInputsBuilder(BaseDummyInputsBuilder[MiniGeminiProcessingInfo]):
    def get_dummy_text(self, mm_counts: Mapping[str, int]) -> str:
        return IMAGE_TOKEN * mm_counts.get("image", 0)

    def get_dummy_mm_data(self, seq_len: int, mm_counts: Mapping[str, int], mm_options):
        side = self.info.get_hf_config().aux_image_size
        return {"image": self._get_dummy_images(width=side, height=side, num_images=mm_counts.get("image", 0),
                                                overrides=mm_options.get("image"))}


class MiniGeminiMultiModalProcessor(BaseMultiModalProcessor[MiniGeminiProcessingInfo]):
    def _call_hf_processor(self, hf_data: Mapping[str, object], hf_kwargs: Mapping[str, object]) -> BatchFeature:
        """Images -> pixels through our processor's public call (one single-image prompt per image)."""
        images = list(hf_data.get("images") or [])
        processor = self.info.get_hf_processor()
        out = processor(text=[IMAGE_TOKEN] * len(images), images=[[image] for image in images])
        return BatchFeature({k: out[k] for k in ("pixel_values", "pixel_values_aux") if k in out})

    def _get_mm_fields_config(self, hf_inputs: BatchFeature, hf_processor_mm_kwargs: Mapping[str, object]):
        fields = {"pixel_values": MultiModalFieldConfig.batched("image")}
        if "pixel_values_aux" in hf_inputs:
            fields["pixel_values_aux"] = MultiModalFieldConfig.batched("image")
        return fields

    def _get_prompt_updates(self, mm_items, hf_processor_mm_kwargs, out_mm_kwargs) -> Sequence[PromptReplacement]:
        config = self.info.get_hf_config()
        return [PromptReplacement(modality="image", target=[config.image_token_id],
                                  replacement=[config.image_token_id] * config.image_seq_length)]
