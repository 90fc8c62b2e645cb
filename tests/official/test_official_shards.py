"""Reading shards converted as read: the same tensors whether a shard is read through one map or many."""

from __future__ import annotations

import torch
from official_fixtures import write_official_checkpoint

from minigemini.official import shards
from minigemini.official.keys import official_key


def test_reading_through_a_new_map_every_few_bytes_gives_the_same_converted_tensors(tmp_path, monkeypatch):
    files = shards.shard_files(write_official_checkpoint(tmp_path, "vicuna").path)
    whole = shards.read_tensors(files, official_key)
    monkeypatch.setattr(shards, "_MAP_BYTES", 1)  # a new map for every tensor
    converted = shards.read_tensors(files, official_key, torch.float32)
    assert whole.keys() == converted.keys() and len(whole) > 10
    for key, tensor in whole.items():
        assert tensor.dtype == torch.bfloat16 and converted[key].dtype == torch.float32
        assert torch.equal(tensor.float(), converted[key]), key
