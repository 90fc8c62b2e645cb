"""The two vision towers: a low-resolution patch-grid ViT and a high-resolution ConvNeXt."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, PreTrainedConfig
from transformers.models.convnext.modeling_convnext import ConvNextEmbeddings, ConvNextStage


class LowResVisionTower(nn.Module):
    """Any patch-grid ViT (CLIP, SigLIP, DINOv2) from transformers; returns one layer's patch tokens.

    forward: pixel_values [B, 3, s, s] -> [B, N, C] with N = (s / patch)² ("patch") or N + 1 ("cls_patch").
    """

    def __init__(self, config: PreTrainedConfig, feature_layer: int = -2, select: str = "patch"):
        super().__init__()
        self.model = AutoModel.from_config(config)
        self.feature_layer = feature_layer
        self.select = select
        self.num_patches = (config.image_size // config.patch_size) ** 2

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        out = self.model(pixel_values=pixel_values.to(dtype), output_hidden_states=True)
        hidden = out.hidden_states[self.feature_layer]
        prefix = hidden.shape[1] - self.num_patches  # CLS and register tokens, if the ViT has them
        if self.select == "patch":
            return hidden[:, prefix:]
        if prefix != 1:
            raise ValueError(f"vision_feature_select='cls_patch' needs a ViT with one CLS token; this one has {prefix}.")
        return hidden


class HighResConvNeXtTower(nn.Module):
    """ConvNeXt stem + 4 stages (transformers' blocks, timm/open_clip layout), returning every stage's map.

    forward: pixel_values [B, 3, H, H] -> [stage_i: [B, C_i, H / 2^(i+2), ...]], strides 4, 8, 16, 32.
    The maps stay at their own resolution: patch info mining resamples them to stride 4 on the fly
    (see `PatchInfoMining.project_hr`), so the 2880-channel concatenation is never materialised.

    Drop path: the official towers keep stochastic depth active in training even though they are frozen;
    `drop_path_in_training=False` keeps this module in eval mode instead.
    """

    def __init__(self, config: PreTrainedConfig, drop_path_in_training: bool = True):
        super().__init__()
        self.embeddings = ConvNextEmbeddings(config)
        rates = torch.linspace(0, config.drop_path_rate, sum(config.depths)).split(list(config.depths))
        dims = list(config.hidden_sizes)
        self.stages = nn.ModuleList(
            ConvNextStage(
                config,
                in_channels=dims[max(i - 1, 0)],
                out_channels=dims[i],
                stride=2 if i > 0 else 1,
                depth=config.depths[i],
                drop_path_rates=rates[i].tolist(),
            )
            for i in range(len(dims))
        )
        self.stage_dims = dims
        self.drop_path_in_training = drop_path_in_training

    def train(self, mode: bool = True):
        return super().train(mode and self.drop_path_in_training)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        dtype = self.embeddings.patch_embeddings.weight.dtype
        x = self.embeddings(pixel_values.to(dtype))
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps
