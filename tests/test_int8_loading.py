"""`load_model(..., quantize="int8")`: the same int8 model as quantizing a loaded fp32 one, without its memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from official.official_fixtures import write_official_checkpoint
from PIL import Image
from tiny_checkpoints import build_tiny_checkpoint
from torch import nn

from minigemini.loading import load_model
from minigemini.quantization import HALF_WEIGHT_PARTS, QUANTIZED_PARTS, Float16WeightLinear


def _plain_int8(model: nn.Module) -> nn.Module:
    """The old path, written plainly: torch.ao's quantize_dynamic over the quantized parts of a loaded fp32 model,
    then the LLM's Linear layers swapped for fp16-weight ones."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    parts = [name for name in QUANTIZED_PARTS if getattr(model, name, None) is not None]
    quantize_dynamic(model, dict.fromkeys(parts, per_channel_dynamic_qconfig), dtype=torch.qint8,
                     mapping={nn.Linear: DynamicInt8Linear}, inplace=True)
    for part in HALF_WEIGHT_PARTS:
        for name, m in list(getattr(model, part).named_modules()):
            if isinstance(m, nn.Linear):  # an fp32 load on CPU gives the LLM OneDnnLinear layers
                parent, _, attr = name.rpartition(".")
                setattr(getattr(model, part).get_submodule(parent), attr, Float16WeightLinear(m))
    return model


def _int8_weights(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, torch.ao.nn.quantized.dynamic.Linear):
            w, b = m._weight_bias()
            out[name] = (w.int_repr(), w.q_per_channel_scales(), b)
    return out


def _assert_same_int8_model(folder) -> None:
    ref, processor = load_model(str(folder), dtype="fp32")
    _plain_int8(ref)
    new, _ = load_model(str(folder), dtype="fp32", quantize="int8")
    a, b = _int8_weights(ref), _int8_weights(new)
    assert a.keys() == b.keys() and len(a) > 0
    halves = [{n: m.weight for n, m in model.named_modules() if isinstance(m, Float16WeightLinear)} for model in (ref, new)]
    assert halves[0].keys() == halves[1].keys() and len(halves[0]) > 0
    assert all(torch.equal(halves[0][n], halves[1][n]) for n in halves[0])
    for name in a:
        assert torch.equal(a[name][0], b[name][0]) and torch.equal(a[name][1], b[name][1]), name
        assert (a[name][2] is None) == (b[name][2] is None) and (a[name][2] is None or torch.equal(a[name][2], b[name][2]))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    batch = processor(processor.apply_chat_template([{"role": "user", "content": "<image>\nWhat is it?"}],
                                                    add_generation_prompt=True), [image])
    with torch.inference_mode():
        assert torch.equal(ref(**batch).logits, new(**batch).logits)
        assert torch.equal(ref.generate(**batch, max_new_tokens=4, do_sample=False),
                           new.generate(**batch, max_new_tokens=4, do_sample=False))


def test_int8_from_our_folder_equals_quantizing_the_loaded_fp32_model(tmp_path):
    _assert_same_int8_model(build_tiny_checkpoint(tmp_path / "ours"))


def test_int8_from_an_official_folder_equals_quantizing_the_loaded_fp32_model(tmp_path):
    _assert_same_int8_model(write_official_checkpoint(tmp_path, "vicuna").path)


# VmHWM: this process's own peak RSS (ru_maxrss would include the parent's RSS when it started this one)
PEAK = """
import json, sys
import torch
import minigemini.modeling, minigemini.processing, torch.ao.nn.quantized.dynamic  # imports before the baseline
from minigemini.loading import load_model

def hwm():
    status = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

base = hwm()
model, _ = load_model(sys.argv[1], dtype="fp32", quantize=sys.argv[2])
print(json.dumps({"base": base, "peak": hwm()}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_int8_loading_never_holds_the_towers_fp32_weights(tmp_path):
    """Towers with ~240 MB of fp32 Linear weights: loading to int8 may add their int8 copy (1/4), one layer and
    the loader's own overhead, never the fp32 weights themselves (the old path paged them all in, then added
    the int8 copies: measured 1.5x the fp32 bytes; this path 0.5x)."""
    clip = dict(hidden_size=640, intermediate_size=2560, num_hidden_layers=12, num_attention_heads=8)
    folder = build_tiny_checkpoint(tmp_path / "ours", vision_config=clip)
    model, _ = load_model(str(folder), dtype="fp32")
    linear_bytes = sum(m.weight.numel() * 4 for part in QUANTIZED_PARTS for m in getattr(model, part).modules()
                       if type(m) is nn.Linear)
    del model
    assert linear_bytes > 200e6
    done = subprocess.run([sys.executable, "-c", PEAK, str(folder), "int8"], capture_output=True, text=True, check=True)
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    assert rss["peak"] - rss["base"] < 0.75 * linear_bytes, (rss, linear_bytes)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_int8_loading_never_pages_in_the_llms_fp32_weights(tmp_path):
    """An LLM with ~240 MB of fp32 Linear weights: loading with int8 keeps fp16 copies (1/2) read from the files
    afresh, never the fp32 weights of the model's own map besides them (which measured 1.5x the fp32 bytes)."""
    llm = dict(hidden_size=640, intermediate_size=2560, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=8,
               head_dim=80)
    folder = build_tiny_checkpoint(tmp_path / "ours", text_config=llm)
    model, _ = load_model(str(folder), dtype="fp32")
    linear_bytes = sum(m.weight.numel() * 4 for part in HALF_WEIGHT_PARTS for m in getattr(model, part).modules()
                       if isinstance(m, nn.Linear) and m.weight is not model.get_input_embeddings().weight)
    del model
    assert linear_bytes > 200e6
    done = subprocess.run([sys.executable, "-c", PEAK, str(folder), "int8"], capture_output=True, text=True, check=True)
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    assert rss["peak"] - rss["base"] < 0.75 * linear_bytes, (rss, linear_bytes)
