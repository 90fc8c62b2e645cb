"""`MiniGeminiForConditionalGeneration` for vLLM: minigemini's towers, mining and projector around vLLM's own
paged LLM of the checkpoint's family (Llama/Vicuna, Gemma, Mixtral, Mistral, Yi, ...).

Weight names are those of our folders (`vision_tower.*`, `aux_vision_tower.*`, `mining.*`, `projector.*`,
`language_model.model.*`, `language_model.lm_head.*`), so vLLM's `AutoWeightsLoader` needs no renaming.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
from vllm.config import VllmConfig
from vllm.model_executor.models.interfaces import SupportsMultiModal, SupportsPP
from vllm.model_executor.models.utils import AutoWeightsLoader, init_vllm_registered_model, maybe_prefix
from vllm.multimodal import MULTIMODAL_REGISTRY

from ..constants import IMAGE_TOKEN
from ..modeling import MiniGeminiForConditionalGeneration as HfMiniGemini
from ..modeling import build_image_modules
from .processing import MiniGeminiDummyInputsBuilder, MiniGeminiMultiModalProcessor, MiniGeminiProcessingInfo


@MULTIMODAL_REGISTRY.register_processor(
    MiniGeminiMultiModalProcessor, info=MiniGeminiProcessingInfo, dummy_inputs=MiniGeminiDummyInputsBuilder
)
class MiniGeminiForConditionalGeneration(nn.Module, SupportsMultiModal, SupportsPP):
    """vLLM model: `embed_multimodal` runs both towers, patch info mining and the projector for all images
    of a step at once; the LLM is `init_vllm_registered_model` of `config.text_config`."""

    # The image path is minigemini's own (same code as the transformers model, so the same numbers).
    encode_views = HfMiniGemini.encode_views
    _run_tower = HfMiniGemini._run_tower

    @classmethod
    def get_placeholder_str(cls, modality: str, i: int) -> str | None:
        if modality.startswith("image"):
            return IMAGE_TOKEN
        raise ValueError("Mini-Gemini takes images only.")

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "") -> None:
        super().__init__()
        config = vllm_config.model_config.hf_config
        self.config = config
        with self._mark_tower_model(vllm_config, "image"):
            self.vision_tower, self.aux_vision_tower, self.mining, self.projector = build_image_modules(config, False)
        text_config = config.text_config
        architectures = None if text_config.architectures else [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[text_config.model_type]]
        with self._mark_language_model(vllm_config):
            self.language_model = init_vllm_registered_model(
                vllm_config=vllm_config, hf_config=text_config, architectures=architectures,
                prefix=maybe_prefix(prefix, "language_model"),
            )
        self.configure_mm_token_handling(text_config.vocab_size, [config.image_token_id])
        self.make_empty_intermediate_tensors = self.language_model.make_empty_intermediate_tensors

    def embed_multimodal(self, **kwargs: object) -> list[torch.Tensor]:
        """pixel_values [I, V, 3, s, s] (+ pixel_values_aux [I, 3, H, H]) -> one [V*N, hidden] tensor per image.

        Gemma-family LLMs scale their embeddings by sqrt(hidden) inside `embed_input_ids`; image features
        get the same scale here, as in the transformers model and the official code.
        """
        pixel_values = kwargs.get("pixel_values")
        if pixel_values is None:
            return []
        feats = self.projector(self.encode_views(pixel_values, kwargs.get("pixel_values_aux")))
        scale = getattr(self.language_model.model, "normalizer", None)
        if scale is not None:
            feats = feats * scale.to(feats.dtype)
        return list(feats)

    def forward(self, input_ids, positions, intermediate_tensors=None, inputs_embeds=None, **kwargs: object):
        if intermediate_tensors is not None:
            inputs_embeds = None
        return self.language_model.model(input_ids, positions, intermediate_tensors, inputs_embeds=inputs_embeds)

    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        """The LLM's logits, with the image placeholder never emitted (as the transformers model's
        `generation_config.suppress_tokens` does)."""
        logits = self.language_model.compute_logits(hidden_states)
        image_id = self.config.image_token_id
        if logits is not None and image_id is not None and image_id < logits.shape[-1]:
            logits[..., image_id] = float("-inf")
        return logits

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        return AutoWeightsLoader(self).load_weights(weights)
