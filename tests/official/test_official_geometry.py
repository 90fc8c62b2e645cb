"""One official folder, one geometry: the model and the processor read the same config, computed once."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from official_fixtures import write_official_checkpoint
from PIL import Image

import minigemini.official.shards as shards
from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiImageProcessor, MiniGeminiProcessor

CASES = {"normal": dict(), "hd": dict(hd=True), "cls_patch": dict(mining=False, select="cls_patch")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_and_processor_get_the_same_geometry(tmp_path, monkeypatch, case):
    fixture = write_official_checkpoint(tmp_path, "vicuna", **CASES[case])
    raw = json.loads((fixture.path / "config.json").read_text())
    raw.pop("tokenizer_model_max_length")  # the context then comes from max_sequence_length, for both
    raw["max_sequence_length"] = 3000
    (fixture.path / "config.json").write_text(json.dumps(raw))
    monkeypatch.chdir(tmp_path)
    model = MiniGeminiForConditionalGeneration.from_pretrained(fixture.path)

    def no_weights(*args, **kwargs):
        raise AssertionError("the processor read weights; it needs only config, tokenizer and shard headers")

    monkeypatch.setattr(shards, "read_tensors", no_weights)
    monkeypatch.setattr("minigemini.official.translate.read_tensors", no_weights)
    processor = MiniGeminiProcessor.from_pretrained(fixture.path)

    config = model.config
    expected_tokens = {"normal": 16, "hd": 5 * 16, "cls_patch": 17}[case]
    assert config.image_seq_length == processor.image_seq_length == expected_tokens
    assert config.tokenizer_model_max_length == processor.model_max_length == 3000
    assert processor.image_processor.to_dict() == MiniGeminiImageProcessor.from_config(config).to_dict()
    assert processor.template == config.template
    assert processor.image_token_id == config.image_token_id

    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8))
    inputs = processor(text=processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}]}]), images=[image])
    with torch.no_grad():
        model(**inputs)  # placeholders and image features agree in number
