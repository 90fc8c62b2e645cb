"""Number formats for inference: which dtype is fast on this machine, and the int8 path for CPUs.

`auto_dtype`: bf16 on CUDA GPUs that support it (fp16 on older ones) and on CPUs with AMX tiles (where
oneDNN runs bf16 matmuls on AMX); fp32 on other CPUs, where bf16 matmuls are emulated on AVX-512 and
measured about 2x slower than fp32 (docs/performance.md).

`quantize_int8`: int8 weights (per output channel) with dynamically quantized int8 activations (one scale
per call, computed from the input) for every `nn.Linear` of the CLIP tower, ConvNeXt's pointwise MLPs and
the projector, through `torch.ao.quantization.quantize_dynamic` (fbgemm VNNI kernels). torchao's
`Int8DynamicActivationInt8WeightConfig` was measured too: in eager mode on this CPU it is slower than
fp32, while torch.ao's kernels are about 4x faster (docs/performance.md). Softmax, LayerNorms, convolutions,
embeddings, patch info mining and the LLM stay fp32 (see QUANTIZED_PARTS).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def cpu_has_amx() -> bool:
    """Whether this CPU exposes AMX tiles (torch's own check, else /proc/cpuinfo's amx_bf16 flag)."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if check is not None:
        return bool(check())
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "amx_bf16" in cpuinfo.read_text()


def auto_dtype(device: str | torch.device) -> torch.dtype:
    """The fastest accurate floating-point format for `device` (see the module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_amx() else torch.float32
    return torch.float32


# Not `mining` (exact fp32 sums, a few percent of the time) and not the LLM: with SmolLM2-135M's real weights,
# int8 Linear layers in the LLM changed the first greedy token for 20 of 20 prompts (max |Δlogit| 16.9,
# benchmarks/inference.py --errors), so the LLM stays in fp32.
QUANTIZED_PARTS = ("vision_tower", "aux_vision_tower", "projector")


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace the Linear layers of a fp32 MiniGemini model's towers and projector in place (CPU only).

    Returns the model; it can answer but not be trained or saved.
    """
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("--quantize int8 runs on CPU (fbgemm kernels); on a GPU use --dtype bf16 or auto.")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise ValueError("--quantize int8 starts from fp32 weights; use --dtype fp32 or auto with it.")
    with warnings.catch_warnings():  # torch.ao's eager quantization announces its move to torchao
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        parts = [name for name in QUANTIZED_PARTS if getattr(model, name, None) is not None]
        quantize_dynamic(model, dict.fromkeys(parts, per_channel_dynamic_qconfig), dtype=torch.qint8,
                         mapping={nn.Linear: DynamicInt8Linear}, inplace=True)
    return model
