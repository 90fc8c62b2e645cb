"""mining=False baseline, and the model-level errors for mismatched images."""

from __future__ import annotations

import pytest
import torch

from _mgm_reference import make_image
from minigemini.tiny import build_tiny_model_and_processor


@pytest.fixture(scope="module")
def tiny_baseline():
    return build_tiny_model_and_processor(seed=0, mining=False)


def test_mining_off_is_a_llava_style_baseline_with_the_same_token_count(tiny_baseline, tiny_normal):
    model, processor = tiny_baseline
    assert model.aux_vision_tower is None and model.mining is None
    assert model.config.image_seq_length == tiny_normal[0].config.image_seq_length
    batch = processor("USER: <image>\nWhat? ASSISTANT:", [make_image(30)])
    assert "pixel_values_aux" not in batch
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == model.config.image_seq_length
    with torch.no_grad():
        feats = model.get_image_features(batch["pixel_values"]).last_hidden_state
        clip = model.vision_tower.model(pixel_values=batch["pixel_values"][:, 0], output_hidden_states=True)
        ref = model.projector(clip.hidden_states[-2][:, 1:])  # LLaVA: projector(CLIP layer -2 patches)
        out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    torch.testing.assert_close(feats, ref)
    assert out.shape[1] == batch["input_ids"].shape[1] + 3


def test_mining_off_in_hd_keeps_five_views(tmp_path):
    model, processor = build_tiny_model_and_processor(seed=0, mining=False, hd=True)
    batch = processor.image_processor([make_image(31)])
    with torch.no_grad():
        feats = model.get_image_features(batch["pixel_values"]).last_hidden_state
    assert feats.shape[1] == model.config.image_seq_length == 5 * 16


def test_model_rejects_placeholders_without_images(tiny_normal):
    model, processor = tiny_normal
    batch = processor("USER: <image>\nWhat? ASSISTANT:", [make_image(32)])
    with pytest.raises(ValueError, match=r"image placeholder tokens .* but 0 images were given"):
        model(input_ids=batch["input_ids"])


def test_model_rejects_more_images_than_placeholders(tiny_normal):
    model, processor = tiny_normal
    one = processor("USER: <image>\nWhat? ASSISTANT:", [make_image(33)])
    two = processor.image_processor([make_image(33), make_image(34)])
    with pytest.raises(ValueError, match=r"\(1 images\) but 2 images were given"):
        model(input_ids=one["input_ids"], **two)


def test_model_without_aux_pixels_explains_what_to_pass(tiny_normal):
    model, processor = tiny_normal
    batch = processor("USER: <image>\nWhat? ASSISTANT:", [make_image(35)])
    with pytest.raises(ValueError, match="pass pixel_values_aux"):
        model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"])


def test_model_rejects_the_wrong_number_of_views(tiny_hd):
    model, processor = tiny_hd
    batch = processor.image_processor([make_image(36)])
    with pytest.raises(ValueError, match="5 views? per image|expects 5"):
        model.get_image_features(batch["pixel_values"][:, 1:], batch["pixel_values_aux"])
