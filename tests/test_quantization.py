"""dtype auto picks by what the machine offers; --quantize int8 swaps the Linear layers for int8 dynamic ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from minigemini import quantization
from minigemini.loading import load_model
from minigemini.quantization import Float16WeightLinear, OneDnnLinear, auto_dtype, quantize_int8


def _image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))


@pytest.mark.parametrize(("speedup", "expected"), [(0.5, torch.float32), (1.1, torch.float32), (2.0, torch.bfloat16)])
def test_auto_dtype_on_cpu_is_bf16_only_where_measured_clearly_faster(monkeypatch, speedup, expected):
    """Intel without AMX emulates bf16 (0.5x fp32), noise stays below the bar, AMX / Zen 4 run it natively (2x)."""
    monkeypatch.setattr(quantization, "cpu_bf16_speedup", lambda: speedup)
    assert auto_dtype("cpu") == expected


def test_the_bf16_measurement_runs_once_per_process():
    quantization.cpu_bf16_speedup.cache_clear()
    first = quantization.cpu_bf16_speedup()
    assert 0 < first < float("inf")
    assert quantization.cpu_bf16_speedup() is first  # cached: later loads do not time again


@pytest.mark.parametrize(("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_dtype_on_cuda_is_bf16_where_supported(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert auto_dtype("cuda") == expected


def test_load_model_auto_follows_auto_dtype(monkeypatch):
    monkeypatch.setattr(quantization, "cpu_bf16_speedup", lambda: 0.5)
    model, _ = load_model("tiny", dtype="auto")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    monkeypatch.setattr(quantization, "cpu_bf16_speedup", lambda: 2.0)
    model, _ = load_model("tiny", dtype="auto")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_int8_replaces_the_linear_layers_of_towers_and_projector_the_llm_gets_fp16_weights_mining_stays():
    model, processor = load_model("tiny", dtype="fp32")
    batch = processor("USER: <image>\nWhat is it? ASSISTANT:", [_image()])
    with torch.no_grad():
        ref = model(**batch).logits
        ref_feats = model.get_image_features(batch["pixel_values"], batch["pixel_values_aux"]).last_hidden_state
    quantize_int8(model)
    dynamic = torch.ao.nn.quantized.dynamic.Linear
    for part in (model.vision_tower, model.aux_vision_tower, model.projector):
        linears = [m for m in part.modules() if isinstance(m, torch.nn.Linear)]
        assert linears == [] and any(isinstance(m, dynamic) for m in part.modules())
    assert not any(isinstance(m, dynamic) for m in [*model.mining.modules(), *model.language_model.modules()])
    llm_linears = [m for m in model.language_model.modules() if isinstance(m, (torch.nn.Linear, Float16WeightLinear))]
    assert llm_linears and all(type(m) is Float16WeightLinear and m.weight.dtype == torch.float16 for m in llm_linears)
    assert {p.dtype for p in model.mining.parameters()} == {torch.float32}
    with torch.no_grad():
        out = model(**batch).logits
        feats = model.get_image_features(batch["pixel_values"], batch["pixel_values_aux"]).last_hidden_state
    assert not torch.equal(out, ref)  # the int8 path really ran
    assert ((feats - ref_feats).norm() / ref_feats.norm()).item() < 0.1
    assert ((out - ref).norm() / ref.norm()).item() < 0.1
    tokens = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert tokens.shape[-1] == batch["input_ids"].shape[-1] + 3


def test_int8_needs_fp32_weights_on_cpu():
    model, _ = load_model("tiny", dtype="bf16")
    with pytest.raises(ValueError, match="starts from fp32 weights"):
        quantize_int8(model)
    with pytest.raises(ValueError, match="--quantize must be one of none, int8"):
        load_model("tiny", quantize="int4")


def _half_reference(x: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    """What an fp16-weight layer stands for: the fp32 layer with its weight rounded to fp16."""
    return torch.nn.functional.linear(x, layer.weight.detach().half().float(), layer.bias)


@pytest.mark.parametrize("bias", [True, False])
def test_fp16_weight_linear_prefills_in_fp32_and_decodes_within_fp16_rounding(bias):
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 96, bias=bias)
    half = Float16WeightLinear(layer)
    assert half.weight.dtype == torch.float16 and (not bias or half.bias.dtype == torch.float32)
    prefill = torch.randn(2, 7, 64)  # 14 rows: fp32 GEMM with the widened weight (oneDNN: summation order only)
    torch.testing.assert_close(half(prefill), _half_reference(prefill, layer), rtol=1e-5, atol=1e-6)
    decode = torch.randn(3, 1, 64)  # 3 rows: multiplied in fp16
    out = half(decode)
    assert out.dtype == torch.float32 and out.shape == (3, 1, 96)
    torch.testing.assert_close(out, _half_reference(decode, layer), rtol=4e-3, atol=4e-3)
    assert not torch.equal(out, _half_reference(decode, layer))  # the fp16 path really ran


def test_fp16_weight_linear_recomputes_in_fp32_what_overflows_fp16():
    layer = torch.nn.Linear(8, 4, bias=False)
    torch.nn.init.constant_(layer.weight, 1.0)
    x = torch.full((1, 8), 1e4)  # each output 8e4 > fp16's largest finite value 65504
    out = Float16WeightLinear(layer)(x)
    assert torch.isfinite(out).all() and torch.equal(out, _half_reference(x, layer))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 64), (2, 7, 64), (5, 64), (0, 64)])
def test_onednn_linear_is_fp32_linear_up_to_summation_order(bias, shape):
    torch.manual_seed(0)
    plain = torch.nn.Linear(64, 96, bias=bias)
    layer = OneDnnLinear.sharing(plain)
    assert layer.weight is plain.weight and layer.bias is plain.bias
    assert layer.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(*shape)
    with torch.inference_mode():
        out = layer(x)
    assert out.shape == (*shape[:-1], 96) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.nn.functional.linear(x, plain.weight, plain.bias), rtol=1e-5, atol=1e-6)


def test_onednn_linear_trains_as_nn_linear():
    torch.manual_seed(0)
    plain = torch.nn.Linear(16, 8)
    layer = OneDnnLinear.sharing(plain)
    x = torch.randn(3, 16)
    layer(x).sum().backward()  # autograd on: nn.Linear's own path
    assert plain.weight.grad is not None and torch.equal(plain.weight.grad, x.sum(0).expand(8, 16))


def test_fp32_cpu_loads_get_onednn_llm_linears_with_the_plain_layers_answers(monkeypatch):
    model, processor = load_model("tiny", dtype="fp32")
    llm = [m for m in model.language_model.modules() if isinstance(m, torch.nn.Linear)]
    assert llm and all(type(m) is OneDnnLinear for m in llm)
    assert all(type(m) is not OneDnnLinear for m in model.vision_tower.modules())  # CLIP measured slower with it
    tied = model.language_model.get_output_embeddings().weight is model.language_model.get_input_embeddings().weight
    assert tied == model.config.text_config.tie_word_embeddings
    batch = processor("USER: <image>\nWhat is it? ASSISTANT:", [_image()])
    calls, onednn = [], quantization.ONEDNN_LINEAR
    monkeypatch.setattr(quantization, "ONEDNN_LINEAR", lambda *args: calls.append(1) or onednn(*args))
    with torch.inference_mode():
        fast = model(**batch).logits
        tokens = model.generate(**batch, max_new_tokens=6, do_sample=False)
    assert len(calls) == 7 * len(llm)  # every LLM layer in all 7 passes (forward, prefill, 5 steps) ran oneDNN
    monkeypatch.setattr(OneDnnLinear, "forward", torch.nn.Linear.forward)  # the plain reference: F.linear
    with torch.inference_mode():
        plain = model(**batch).logits
        plain_tokens = model.generate(**batch, max_new_tokens=6, do_sample=False)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    assert torch.equal(tokens, plain_tokens)
    model, _ = load_model("tiny", dtype="bf16")
    assert not any(isinstance(m, OneDnnLinear) for m in model.modules())  # bf16 keeps F.linear (oneDNN already)
