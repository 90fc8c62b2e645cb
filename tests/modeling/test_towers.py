"""The LR tower runs only the layers up to vision_feature_layer and equals transformers' hidden_states output."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPVisionConfig, Dinov2Config, SiglipVisionConfig

from minigemini.modeling.towers import LowResVisionTower

SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=2, image_size=28, patch_size=14)


@pytest.mark.parametrize("config_class", [CLIPVisionConfig, SiglipVisionConfig, Dinov2Config])
@pytest.mark.parametrize("feature_layer", [-2, -1, 2, 0])
def test_truncated_tower_equals_the_full_models_hidden_state(config_class, feature_layer):
    torch.manual_seed(0)
    tower = LowResVisionTower(config_class(**SMALL), feature_layer=feature_layer, select="patch").eval()
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        full = tower.model(pixel_values=pixels, output_hidden_states=True).hidden_states[feature_layer]
        ours = tower(pixels)
    assert ours.shape == (2, 4, 32)
    torch.testing.assert_close(ours, full[:, full.shape[1] - 4 :], rtol=1e-5, atol=1e-5)


def test_layers_after_the_feature_layer_never_run():
    tower = LowResVisionTower(CLIPVisionConfig(**SMALL), feature_layer=-2).eval()
    ran = []
    for i, layer in enumerate(tower.model.encoder.layers):
        layer.register_forward_hook(lambda *_, i=i: ran.append(i))
    tower(torch.randn(1, 3, 28, 28))
    assert ran == [0, 1, 2]
    assert "model.encoder.layers.3.mlp.fc1.weight" in tower.state_dict()  # the checkpoint layout is kept


def test_feature_layer_outside_the_vit_is_a_clear_error():
    with pytest.raises(ValueError, match="vision_feature_layer=-6 is outside a 4-layer ViT"):
        LowResVisionTower(CLIPVisionConfig(**SMALL), feature_layer=-6)
