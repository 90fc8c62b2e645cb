"""Gemma: image features get the same sqrt(hidden) embedding scale as text, like the official GemmaModel."""

from __future__ import annotations

import math

import pytest
import torch

from _mgm_reference import make_image
from minigemini.tiny import build_tiny_model_and_processor


@pytest.fixture(scope="module")
def tiny_gemma():
    return build_tiny_model_and_processor(seed=2, llm="gemma")


def test_tiny_gemma_scales_text_embeddings_by_sqrt_hidden(tiny_gemma):
    """Premise of the reference below: transformers' Gemma scales inside its embedding, not on inputs_embeds."""
    model, processor = tiny_gemma
    hidden = model.config.text_config.hidden_size
    ids = processor("USER: hello ASSISTANT:")["input_ids"]
    emb = model.get_input_embeddings()
    torch.testing.assert_close(emb(ids), emb.weight[ids] * math.sqrt(hidden))


def test_gemma_image_features_are_scaled_like_the_whole_official_spliced_sequence(tiny_gemma):
    model, processor = tiny_gemma
    hidden = model.config.text_config.hidden_size
    batch = processor("USER: <image>\nWhat is in the image? ASSISTANT:", [make_image(20)])
    ids = batch["input_ids"]
    with torch.no_grad():
        # official: splice raw text embeddings and raw projector outputs, then GemmaModel multiplies by sqrt(hidden)
        projected = model.projector(model.encode_views(batch["pixel_values"], batch["pixel_values_aux"]))[0]
        spliced = model.get_input_embeddings().weight[ids].clone()
        spliced[ids == model.config.image_token_id] = projected
        normalizer = torch.tensor(hidden**0.5, dtype=spliced.dtype)
        ref_logits = model.language_model(inputs_embeds=spliced * normalizer).logits
        ours = model(**batch).logits
        unscaled = model.language_model(inputs_embeds=torch.where(
            (ids == model.config.image_token_id).unsqueeze(-1), spliced, spliced * normalizer)).logits
    torch.testing.assert_close(ours, ref_logits, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours, unscaled, atol=1e-3), "unscaled image features must give different logits"


def test_llama_image_features_are_not_scaled(tiny_normal):
    model, processor = tiny_normal
    batch = processor.image_processor([make_image(21)])
    with torch.no_grad():
        feats = model.get_image_features(batch["pixel_values"], batch["pixel_values_aux"]).last_hidden_state
        plain = model.projector(model.encode_views(batch["pixel_values"], batch["pixel_values_aux"]))
    torch.testing.assert_close(feats, plain)
