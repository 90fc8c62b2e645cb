"""Mixtral's 4.36 expert keys load exactly as transformers' own MixtralForCausalLM loads the same tensors."""

from __future__ import annotations

import json

import torch
from official_fixtures import write_official_checkpoint
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import MixtralForCausalLM

from minigemini import MiniGeminiForConditionalGeneration


def test_mixtral_experts_match_transformers_loading_the_same_file(tmp_path, monkeypatch):
    fixture = write_official_checkpoint(tmp_path, "mixtral")
    llm = {}
    for shard in sorted(fixture.path.glob("model-*.safetensors")):
        with safe_open(shard, framework="pt") as f:
            llm.update({k: f.get_tensor(k) for k in f.keys() if k.startswith(("model.layers.", "model.embed_tokens.",
                                                                              "model.norm.", "lm_head."))})
    assert any(".block_sparse_moe.experts.0.w1.weight" in k for k in llm)  # the 4.36 layout
    plain = tmp_path / "plain-mixtral"
    plain.mkdir()
    raw = json.loads((fixture.path / "config.json").read_text())
    raw.update(model_type="mixtral", architectures=["MixtralForCausalLM"])
    (plain / "config.json").write_text(json.dumps(raw))
    save_file(llm, plain / "model.safetensors", metadata={"format": "pt"})

    reference = MixtralForCausalLM.from_pretrained(plain, dtype=torch.float32).state_dict()
    monkeypatch.chdir(tmp_path)
    ours = MiniGeminiForConditionalGeneration.from_pretrained(fixture.path).language_model.state_dict()
    assert set(ours) == set(reference)
    for key in reference:
        assert torch.equal(ours[key], reference[key]), key
