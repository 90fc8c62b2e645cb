"""`answering/kv_cache.py`: appending in place holds exactly what transformers' concatenating cache holds, through
reallocations, crops, beam reordering and deep copies, and generation through it gives identical logits."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM, MistralConfig
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from minigemini.answering import kv_cache
from minigemini.answering.kv_cache import AppendLayer, AppendOnlyCache
from minigemini.answering.prefix import cache_bytes


@pytest.fixture(autouse=True)
def small_growth(monkeypatch):
    monkeypatch.setattr(kv_cache, "GROW", 3)  # reallocations every few tokens


def kv(tokens: int, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, tokens, 4, generator=g), torch.randn(batch, 2, tokens, 4, generator=g)


def same(layer, reference) -> bool:
    return torch.equal(layer.keys, reference.keys) and torch.equal(layer.values, reference.values)


def test_appending_equals_concatenating_across_reallocations():
    layer, reference = AppendLayer(), DynamicLayer()
    for step, tokens in enumerate((5, 1, 1, 1, 1, 4, 1, 1)):
        new = kv(tokens, seed=step)
        out = layer.update(*new)
        assert [torch.equal(a, b) for a, b in zip(out, reference.update(*new))] == [True, True]
        assert layer.get_seq_length() == reference.get_seq_length()


@pytest.mark.parametrize("change", ["crop", "select", "repeat"])
def test_a_cache_changed_from_outside_goes_on_appending_correctly(change):
    layer, reference = AppendLayer(), DynamicLayer()
    for target in (layer, reference):
        target.update(*kv(6))
        target.update(*kv(1, seed=1))
        if change == "crop":
            target.crop(-2)
        elif change == "select":
            target.batch_select_indices(torch.tensor([1, 1]))
        else:
            target.batch_repeat_interleave(2)
    batch = 4 if change == "repeat" else 2
    for step in range(5):
        new = kv(1, batch=batch, seed=10 + step)
        layer.update(*new), reference.update(*new)
        assert same(layer, reference)


def test_a_deep_copy_and_its_original_never_write_into_each_other():
    original = AppendLayer()
    original.update(*kv(4))
    twin = copy.deepcopy(original)
    before = twin.keys.clone()
    original.update(*kv(1, seed=1))  # fits the spare room that both buffers have
    assert torch.equal(twin.keys, before)
    twin.update(*kv(1, seed=2))
    assert not torch.equal(twin.keys[..., -1, :], original.keys[..., -1, :])
    assert torch.equal(original.keys[..., -1, :], kv(1, seed=1)[0][..., 0, :])


def test_only_full_attention_layers_append_in_place():
    assert {type(layer) for layer in AppendOnlyCache(LlamaConfig(num_hidden_layers=2)).layers} == {AppendLayer}
    sliding = AppendOnlyCache(MistralConfig(num_hidden_layers=2, sliding_window=16))
    assert {type(layer) for layer in sliding.layers} == {DynamicSlidingWindowLayer}


def test_the_spare_room_counts_in_the_prefix_caches_byte_budget():
    cache = AppendOnlyCache(LlamaConfig(num_hidden_layers=1))
    cache.update(*kv(5, batch=1), layer_idx=0)
    assert cache_bytes(cache) == 2 * 2 * (5 + kv_cache.GROW) * 4 * 4  # keys and values, 2 heads, 4 dims, fp32


def test_greedy_generation_gives_identical_logits_to_dynamic_cache():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 64, (2, 7))
    runs = [model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                           cache=cache, output_logits=True, return_dict_in_generate=True)
            for cache in (DynamicCache(config=config), AppendOnlyCache(config))]
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    assert all(torch.equal(a, b) for a, b in zip(runs[0].logits, runs[1].logits))
