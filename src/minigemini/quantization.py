"""Number formats and CPU kernels for inference: which dtype is fast on this machine, the int8 path for CPUs,
and the LLM's fp32 Linear layers through oneDNN.

`auto_dtype`: bf16 on CUDA GPUs that support it (fp16 on older ones). On CPUs it measures: one bf16 and one
fp32 matmul of a Linear layer's size, timed interleaved once per process, and picks bf16 only where it is at
least 1.25x faster. That is where the CPU multiplies bf16 natively (AMX tiles on recent Xeons; AVX-512 BF16
dot products on AMD Zen 4, measured 2x faster than fp32 there); on Intel CPUs without AMX, oneDNN emulates
bf16 on AVX-512 at about half the fp32 speed, so fp32 is picked (docs/performance.md).

`quantize_int8`: int8 weights (per output channel) with dynamically quantized int8 activations (one scale
per call, computed from the input) for every `nn.Linear` of the CLIP tower, ConvNeXt's pointwise MLPs and
the projector, as torch.ao's dynamic int8 Linear (what `torch.ao.quantization.quantize_dynamic` swaps in;
fbgemm VNNI kernels), layer by layer so that loading with `--quantize int8` never holds more than fp32 does. torchao's
`Int8DynamicActivationInt8WeightConfig` was measured too: in eager mode on this CPU it is slower than
fp32, while torch.ao's kernels are about 4x faster (docs/performance.md). The LLM's Linear layers keep fp16
weights instead (`Float16WeightLinear`: int8 changed its answers, fp16 weights halve the bytes that decoding
reads). Softmax, LayerNorms, convolutions, embeddings and patch info mining stay fp32.

`use_onednn_linears`: for fp32 inference on CPU, the LLM's Linear layers multiply through oneDNN's inner
product instead of MKL's GEMM/GEMV that `F.linear` calls: the same fp32 arithmetic up to summation order, and
measured faster at SmolLM2's shapes on two cores (docs/performance.md): 2x for a decoding step's
[1, 576] x [576, 1536] and its LM head, 1.2-1.35x for the prefill's GEMMs. Not the CLIP tower, where it
measured slower.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn


# oneDNN's fp32 inner product, with an optional activation fused in (the kernel torch.compile's CPU backend
# emits for Linear layers); None where torch was built without oneDNN.
ONEDNN_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None
BF16_MIN_SPEEDUP = 1.25  # bf16 must beat fp32 by this much to be picked: never slower, robust to timing noise


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of x [256, 1024] @ W [1024, 1024] on this CPU (best of 5 each, interleaved)."""
    generator = torch.Generator().manual_seed(0)
    x, w = torch.randn(256, 1024, generator=generator), torch.randn(1024, 1024, generator=generator)
    pairs = {torch.float32: (x, w), torch.bfloat16: (x.bfloat16(), w.bfloat16())}
    best = dict.fromkeys(pairs, float("inf"))
    with torch.inference_mode():
        for dtype, (a, b) in pairs.items():  # warm-up: oneDNN builds its kernels on the first call
            a @ b
        for _ in range(5):
            for dtype, (a, b) in pairs.items():
                start = time.perf_counter()
                a @ b
                best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.float32] / best[torch.bfloat16]


def auto_dtype(device: str | torch.device) -> torch.dtype:
    """The fastest accurate floating-point format for `device` (see the module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_bf16_speedup() >= BF16_MIN_SPEEDUP else torch.float32
    return torch.float32


# Not `mining` (exact fp32 sums, a few percent of the time) and not the LLM: with SmolLM2-135M's real weights,
# int8 Linear layers in the LLM changed the first greedy token for 20 of 20 prompts (max |Δlogit| 16.9,
# benchmarks/inference.py --errors). The LLM's Linear layers get fp16 weights instead (`Float16WeightLinear`).
QUANTIZED_PARTS = ("vision_tower", "aux_vision_tower", "projector")
HALF_WEIGHT_PARTS = ("language_model",)


class Float16WeightLinear(nn.Module):
    """A Linear layer of fp32 activations [..., in] -> [..., out] whose weight [out, in] is stored in fp16.

    Decoding (at most `FP16_ROWS` rows) is memory-bound: it multiplies in fp16, reading half the bytes
    (an fp16 matrix-vector product measured 3-5x faster than fp32 on two CPU cores, SmolLM2's shapes), and
    returns fp32; a result that overflows fp16 is computed again in fp32. Longer inputs (prefill) multiply in
    fp32 with the weight widened for the call, since fp16 GEMMs are slower than fp32 ones on CPUs without
    AMX-FP16. The bias stays fp32. Inference only.
    """

    FP16_ROWS = 4

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = nn.Parameter(linear.weight.detach().to(torch.float16), requires_grad=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() <= self.FP16_ROWS * self.in_features:
            out = F.linear(x.to(torch.float16), self.weight).float()
            if bool(torch.isfinite(out).all()):
                return out if self.bias is None else out + self.bias
        return _fp32_linear(x, self.weight.float(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, fp16 weight"


class OneDnnLinear(nn.Linear):
    """`nn.Linear` whose CPU fp32 inference (no autograd) runs oneDNN's inner product; anything else (training,
    GPUs, other dtypes) is `nn.Linear`'s own. Same parameters, names and state dict as the layer it replaces."""

    @classmethod
    def sharing(cls, linear: nn.Linear) -> OneDnnLinear:
        """A OneDnnLinear holding `linear`'s own Parameter objects (ties, e.g. a head tied to the embeddings, stay)."""
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        layer.weight, layer.bias = linear.weight, linear.bias
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu":
            return super().forward(x)
        return _fp32_linear(x, self.weight, self.bias)


def _fp32_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`F.linear(x, weight, bias)`, through oneDNN for fp32 CPU tensors where torch has it."""
    if ONEDNN_LINEAR is None or x.dtype != torch.float32 or weight.dtype != torch.float32 or x.numel() == 0:
        return F.linear(x, weight, bias)
    return ONEDNN_LINEAR(x, weight, bias, "none", [], "")


def inference_layers(model: nn.Module, quantize: str = "none",
                     weights: Callable[[str], torch.Tensor] | None = None) -> nn.Module:
    """The layers a loaded model answers with: `quantize_int8` for "int8"; otherwise, for an fp32 model on CPU,
    `use_onednn_linears`; anything else is left as it is. Returns the model."""
    if quantize == "int8":
        return quantize_int8(model, weights)
    first = next(model.parameters())
    if first.device.type == "cpu" and first.dtype == torch.float32:
        use_onednn_linears(model)
    return model


def use_onednn_linears(model: nn.Module) -> nn.Module:
    """Make the LLM's Linear layers `OneDnnLinear` (in place; the parameters are shared, not copied). For fp32
    inference on CPU: `loading.load_model` calls it there. Returns the model."""
    _swap_linears(model, HALF_WEIGHT_PARTS, None, OneDnnLinear.sharing)
    return model


def quantize_int8(model: nn.Module, weights: Callable[[str], torch.Tensor] | None = None) -> nn.Module:
    """Replace the Linear layers of a fp32 MiniGemini model's towers and projector in place (CPU only) with int8
    ones, and the LLM's with `Float16WeightLinear`.

    A few layers at a time (one per thread, up to 4: torch's quantize and fbgemm's prepack are single-threaded),
    each fp32 weight dropped as soon as its int8 copy exists, so the towers' fp32 and int8 weights are never
    resident together. `weights(name)` (optional) returns state-dict tensor `name` in fp32,
    read afresh (`loading.checkpoint_tensors`): the model's own memory-mapped Linear weights are then never
    paged in. Same int8 weights as `torch.ao.quantization.quantize_dynamic` with `per_channel_dynamic_qconfig`.
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
        from torch.ao.quantization import per_channel_dynamic_qconfig

        _swap_linears(model, QUANTIZED_PARTS, weights,
                      lambda source: _int8_linear(source, DynamicInt8Linear, per_channel_dynamic_qconfig),
                      workers=min(4, torch.get_num_threads()))
    _swap_linears(model, HALF_WEIGHT_PARTS, weights, Float16WeightLinear)
    return model


def _swap_linears(model: nn.Module, parts: tuple[str, ...], weights: Callable[[str], torch.Tensor] | None,
                  convert: Callable[[nn.Linear], nn.Module], workers: int = 1) -> None:
    """Replace every plain `nn.Linear` (quantize_dynamic's mapping) or `OneDnnLinear` of `model.<part>` by
    `convert(fp32 Linear)`, the fp32 weight read afresh through `weights` where given (the model's own map of it
    is then never paged in) and dropped as soon as it is converted: `workers` layers at a time, each in its own
    thread (torch's quantize and fbgemm's prepack run single-threaded)."""
    for part in (name for name in parts if getattr(model, name, None) is not None):
        # names, not modules: a list of the modules would keep every fp32 weight alive to the end
        names = [n for n, m in getattr(model, part).named_modules(prefix=part) if type(m) in (nn.Linear, OneDnnLinear)]

        def converted(name: str) -> nn.Module:
            source = model.get_submodule(name)
            if weights is not None:
                try:
                    source = _read_linear(source, name, weights)
                except KeyError:  # not in the files: a head tied to the embeddings, whose weight is resident anyway
                    pass
            return convert(source)

        with ThreadPoolExecutor(workers) as pool:
            for name, layer in zip(names, pool.map(converted, names)):
                parent, _, attr = name.rpartition(".")
                setattr(model.get_submodule(parent), attr, layer)


def _int8_linear(source: nn.Linear, int8_linear: type, qconfig) -> nn.Module:
    """torch.ao's `int8_linear.from_float(source)` under `qconfig`, built at size 1 x 1 and then given its weight:
    `from_float` first packs an all-zero int8 weight of full size and throws it away (a third of the load)."""
    from torch.ao.nn.quantized.modules.utils import _quantize_weight

    observer = qconfig.weight()
    observer(source.weight)
    layer = int8_linear(1, 1, dtype=torch.qint8)
    layer.set_weight_bias(_quantize_weight(source.weight.float(), observer), source.bias)
    layer.in_features, layer.out_features = source.in_features, source.out_features
    return layer


def _read_linear(like: nn.Linear, name: str, weights: Callable[[str], torch.Tensor]) -> nn.Linear:
    """A Linear shaped like `like` holding `weights(name + ".weight")` (and the bias), fp32."""
    linear = nn.Linear(like.in_features, like.out_features, bias=like.bias is not None, device="meta")
    for key, param in linear.named_parameters(recurse=False):
        tensor = weights(f"{name}.{key}")
        if tensor.shape != param.shape or tensor.dtype != torch.float32:
            raise ValueError(f"{name}.{key}: {tuple(tensor.shape)} {tensor.dtype} read, {tuple(param.shape)} float32 expected")
        setattr(linear, key, nn.Parameter(tensor, requires_grad=False))
    return linear
