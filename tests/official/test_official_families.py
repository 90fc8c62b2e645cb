"""Every official MGM family, normal and HD, `.safetensors` and `.bin` shards: loads exactly, converts, generates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_fixtures import write_official_checkpoint
from PIL import Image

from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor
from minigemini.convert import convert_official

CASES = [  # (family, hd, shard format): every family both ways, both formats
    ("vicuna", False, "safetensors"), ("vicuna", True, "bin"),
    ("llama3", False, "bin"), ("llama3", True, "safetensors"),
    ("yi", False, "safetensors"), ("yi", True, "bin"),
    ("gemma", False, "safetensors"), ("gemma", True, "bin"),
    ("mixtral", False, "bin"), ("mixtral", True, "safetensors"),
]


def _inputs(processor):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}]
    return processor(text=processor.apply_chat_template(messages), images=[image])


@pytest.mark.parametrize(("family", "hd", "fmt"), CASES, ids=[f"{f}-{'hd' if h else 'normal'}-{x}" for f, h, x in CASES])
def test_official_family_loads_exactly_converts_and_generates(tmp_path, monkeypatch, family, hd, fmt):
    fixture = write_official_checkpoint(tmp_path, family, hd=hd, fmt=fmt)
    monkeypatch.chdir(tmp_path)  # official configs name tower folders relative to the working directory
    model = MiniGeminiForConditionalGeneration.from_pretrained(fixture.path)
    processor = MiniGeminiProcessor.from_pretrained(fixture.path)

    ours, ref = model.state_dict(), fixture.reference.state_dict()
    assert set(ours) == set(ref)
    for key in ref:
        assert torch.equal(ours[key], ref[key]), key
    assert model.config.tie_word_embeddings == fixture.reference.config.tie_word_embeddings
    assert processor.template == fixture.reference.config.template
    inputs, ref_inputs = _inputs(processor), _inputs(fixture.processor)
    for key in ref_inputs:
        assert torch.equal(inputs[key], ref_inputs[key]), key
    with torch.no_grad():
        logits = model(**inputs).logits
        assert torch.equal(logits, fixture.reference(**ref_inputs).logits)

    converted = convert_official(fixture.path, tmp_path / "converted")
    again = MiniGeminiForConditionalGeneration.from_pretrained(converted)
    again_processor = MiniGeminiProcessor.from_pretrained(converted)
    again_inputs = _inputs(again_processor)
    assert torch.equal(again_inputs["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        assert torch.equal(again(**again_inputs).logits, logits)

    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]
    assert torch.equal(again.generate(**again_inputs, max_new_tokens=4, do_sample=False), generated)
