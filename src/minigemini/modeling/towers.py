"""The two vision towers: a low-resolution patch-grid ViT and a high-resolution ConvNeXt."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import AutoModel, PreTrainedConfig
from transformers.models.convnext.modeling_convnext import ConvNextEmbeddings, ConvNextLayer, ConvNextStage

from ..quantization import ONEDNN_LINEAR

# Rows of the block MLP per GEMM pair: at 768 px stage 1 has 36864 positions, whose [36864, 768] fp32 hidden
# (113 MB) would be allocated and page-faulted afresh for every block; 4096 rows keep it at 12.6 MB.
_MLP_ROWS = 4096


class LowResVisionTower(nn.Module):
    """Any patch-grid ViT (CLIP, SigLIP, DINOv2) from transformers; returns one layer's patch tokens.

    forward: pixel_values [B, 3, s, s] -> [B, N, C] with N = (s / patch)² ("patch") or N + 1 ("cls_patch").
    Only the layers up to `feature_layer` run (23 of CLIP-L's 24 for the official -2), with the model's own
    attention implementation (SDPA by default); later layers stay in the state dict, unused.
    """

    def __init__(self, config: PreTrainedConfig, feature_layer: int = -2, select: str = "patch"):
        super().__init__()
        self.model = AutoModel.from_config(config)
        self.feature_layer = feature_layer
        self.select = select
        self.num_patches = (config.image_size // config.patch_size) ** 2
        depth = config.num_hidden_layers
        self.layers_run = feature_layer if feature_layer >= 0 else depth + 1 + feature_layer  # hidden_states index
        if not 0 <= self.layers_run <= depth:
            raise ValueError(f"vision_feature_layer={feature_layer} is outside a {depth}-layer ViT.")

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def _hidden_state(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ViT's hidden_states[feature_layer] [B, T, C], running only the layers before it."""
        vit = getattr(self.model, "vision_model", self.model)
        encoder = getattr(vit, "encoder", None)
        layers = getattr(encoder, "layers", None) or getattr(encoder, "layer", None)
        if layers is None or not hasattr(vit, "embeddings"):  # an unfamiliar layout: ask for all hidden states
            return self.model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[self.feature_layer]
        hidden = vit.embeddings(pixel_values)
        if hasattr(vit, "pre_layrnorm"):  # CLIP
            hidden = vit.pre_layrnorm(hidden)
        for layer in layers[: self.layers_run]:
            hidden = layer(hidden, None)
        return hidden

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        hidden = self._hidden_state(pixel_values.to(dtype))
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
    (see `PatchInfoMining`), so the 2880-channel concatenation is never materialised.

    Drop path: the official towers keep stochastic depth active in training even though they are frozen;
    `drop_path_in_training=False` keeps this module in eval mode instead.

    Inference updates each block's input in place, its MLP a chunk of rows at a time (`_block_in_place`). On
    CPU in fp32 the MLP runs through oneDNN with GELU fused into the first GEMM (`_fused_mlp`): the same fp32
    arithmetic up to summation order, 11% less time for the tower (docs/performance.md) because the
    [H·W, 4C] activation is not written and read again by a separate GELU pass. Other inference
    (`--quantize int8`, bf16, GPUs) runs the blocks' own Linear layers with GELU in place (`_modules_mlp`).
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
        self.exact_gelu = config.hidden_act == "gelu"  # erf GELU: oneDNN's fused "gelu", aten's gelu_

    def train(self, mode: bool = True):
        return super().train(mode and self.drop_path_in_training)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        dtype = self.embeddings.patch_embeddings.weight.dtype
        x = self.embeddings(pixel_values.to(dtype))
        mlp = self._inference_mlp(x)
        maps = []
        for stage in self.stages:
            if mlp is None:
                x = stage(x)
            else:
                for layer in stage.downsampling_layer:
                    x = layer(x)
                for layer in stage.layers:
                    x = _block_in_place(layer, x, mlp)
            maps.append(x)
        return maps

    def _inference_mlp(self, x: torch.Tensor) -> Callable[[ConvNextLayer, torch.Tensor], torch.Tensor] | None:
        """How the blocks' pointwise MLPs run on `x`: None for transformers' own blocks (training, autograd, an
        activation other than exact GELU); `_fused_mlp` for CPU fp32 with plain Linear layers; `_modules_mlp`
        otherwise (`--quantize int8`'s Linear layers, bf16, GPUs)."""
        if self.training or torch.is_grad_enabled() or not self.exact_gelu:
            return None
        block = self.stages[0].layers[0]
        if (ONEDNN_LINEAR is not None and x.device.type == "cpu" and x.dtype == torch.float32
                and type(block.pwconv1) is nn.Linear and type(block.pwconv2) is nn.Linear):
            return _fused_mlp
        return _modules_mlp


def _fused_mlp(layer: ConvNextLayer, rows: torch.Tensor) -> torch.Tensor:
    """pwconv2(GELU(pwconv1(rows))) for rows [n, C] as two oneDNN fp32 GEMMs, GELU fused into the first."""
    hidden = ONEDNN_LINEAR(rows, layer.pwconv1.weight, layer.pwconv1.bias, "gelu", [], "none")
    return ONEDNN_LINEAR(hidden, layer.pwconv2.weight, layer.pwconv2.bias, "none", [], "")


def _modules_mlp(layer: ConvNextLayer, rows: torch.Tensor) -> torch.Tensor:
    """pwconv2(GELU(pwconv1(rows))) for rows [n, C] through the block's own Linear layers, GELU in place."""
    return layer.pwconv2(torch.ops.aten.gelu_(layer.pwconv1(rows)))


def _block_in_place(layer: ConvNextLayer, x: torch.Tensor,
                    mlp: Callable[[ConvNextLayer, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`ConvNextLayer.forward` (inference) for x [B, C, H, W], updating `x` in place and returning it (the block's
    input is the tower's own intermediate, never kept).

    The MLP runs on `_MLP_ROWS` positions at a time and writes each chunk's output over its own input rows, so
    one [B, H, W, C] map exists beside `x` and the [rows, 4C] hidden is small enough for the heap to reuse
    (no fresh page-faulted mapping per block). For int8, each chunk gets its own dynamic activation scale.
    """
    h = layer.layernorm(layer.dwconv(x).permute(0, 2, 3, 1))
    rows = h.view(-1, h.shape[-1])  # LayerNorm's output is contiguous channels-last
    for start in range(0, rows.shape[0], _MLP_ROWS):
        chunk = rows[start : start + _MLP_ROWS]
        chunk.copy_(mlp(layer, chunk))
    if layer.layer_scale_parameter is not None:
        h.mul_(layer.layer_scale_parameter)
    return x.add_(h.permute(0, 3, 1, 2))
