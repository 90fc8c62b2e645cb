"""`MiniGeminiConfig`: one typed config for the LLM, the two vision towers and the MGM glue."""

from __future__ import annotations

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


@strict
class MiniGeminiConfig(PreTrainedConfig):
    r"""Configuration of a Mini-Gemini model.

    Sub-configs:
        text_config: any causal-LM config (Llama, Gemma, Mixtral, Mistral, Qwen2, ...).
        vision_config: the low-resolution (LR) patch-grid ViT; CLIP ViT-L/14-336 by default, SigLIP
            or DINOv2 also work.
        aux_vision_config: the high-resolution (HR) ConvNeXt; ConvNeXt-L (LAION, `convnext_large_d_320`)
            by default.

    Image geometry: every image becomes an HR view of `aux_image_size` px and `image_grid`² LR views of
    `vision_config.image_size` px cut from an LR image of `image_grid * image_size` px, plus a global view
    when `image_global`. Each view yields N = (image_size / patch_size)² tokens, so an image costs
    `num_views * N` LLM tokens (576 normally, 2880 in HD).

    With `mining=False` the HR tower is not built and the model is a LLaVA-style baseline with exactly the
    same number of visual tokens.
    """

    model_type = "minigemini"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
        "vision_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="clip_vision_model",
            init_kwargs={
                "hidden_size": 1024,
                "intermediate_size": 4096,
                "num_hidden_layers": 24,
                "num_attention_heads": 16,
                "patch_size": 14,
                "image_size": 336,
                "projection_dim": 768,
                "hidden_act": "quick_gelu",
            },
        ),
        "aux_vision_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="convnext",
            init_kwargs={
                "hidden_sizes": [192, 384, 768, 1536],
                "depths": [3, 3, 27, 3],
                "patch_size": 4,
                "drop_path_rate": 0.1,
                "layer_scale_init_value": 1e-6,
            },
        ),
    }

    text_config: dict | PreTrainedConfig | None = None
    vision_config: dict | PreTrainedConfig | None = None
    aux_vision_config: dict | PreTrainedConfig | None = None

    vision_feature_layer: int = -2
    vision_feature_select: Literal["patch", "cls_patch"] = "patch"
    aux_image_size: int = 768
    image_grid: int = 1
    image_global: bool = False
    image_aspect_ratio: Literal["pad", "square"] = "pad"
    projector_type: str = "mlp2x_gelu"
    mining: bool = True
    mining_chunk_channels: int = 256
    aux_drop_path_in_training: bool = True
    image_token_id: int | None = None
    tokenizer_model_max_length: int | None = None
    template: str | None = None
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.image_global and self.image_grid < 2:
            raise ValueError("image_global=True needs image_grid >= 2 (the global view only exists in HD mode).")
        if self.image_grid < 1:
            raise ValueError(f"image_grid must be >= 1, got {self.image_grid}.")
        if self.mining:
            grid = self.lr_patch_grid
            hr_map = self.aux_image_size // 4 // self.image_grid
            if hr_map % grid:
                raise ValueError(
                    f"Patch info mining needs the HR feature map of each view ({hr_map} = aux_image_size/4/image_grid) "
                    f"to be a multiple of the LR patch grid ({grid}); pick aux_image_size = 4*k*{grid}*image_grid."
                )

    # ---- derived geometry -------------------------------------------------------------------------
    @property
    def image_size(self) -> int:
        """Side of one LR view in pixels (336 for CLIP-L/336)."""
        return int(self.vision_config.image_size)

    @property
    def lr_patch_grid(self) -> int:
        """LR tokens per side of one view (24 for CLIP-L/14-336)."""
        return self.image_size // int(self.vision_config.patch_size)

    @property
    def tokens_per_view(self) -> int:
        n = self.lr_patch_grid**2
        return n + 1 if self.vision_feature_select == "cls_patch" else n

    @property
    def num_views(self) -> int:
        """LR views per image: 1 normally, grid² crops (+1 global) in HD mode."""
        return self.image_grid**2 + (1 if self.image_global else 0)

    @property
    def image_seq_length(self) -> int:
        """LLM tokens one image costs."""
        return self.num_views * self.tokens_per_view

    @property
    def mining_window(self) -> int:
        """M: each LR token owns an M x M window of the stride-4 HR feature map."""
        return self.aux_image_size // 4 // self.image_grid // self.lr_patch_grid


__all__ = ["MiniGeminiConfig"]
