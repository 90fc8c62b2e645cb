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


def _small_convnext():
    from transformers import ConvNextConfig

    from minigemini.modeling.towers import HighResConvNeXtTower

    torch.manual_seed(0)
    config = ConvNextConfig(hidden_sizes=[16, 24, 32, 48], depths=[2, 1, 2, 1], layer_scale_init_value=0.5)
    return HighResConvNeXtTower(config).eval()


@pytest.mark.parametrize("chunk_rows", [4096, 100])
def test_fused_convnext_inference_equals_transformers_blocks(monkeypatch, chunk_rows):
    """CPU fp32 inference fuses GELU into oneDNN's GEMM, in row chunks written over their own inputs; every stage
    map equals transformers' own blocks (and no later stage overwrites an earlier stage's map)."""
    import minigemini.modeling.towers as towers

    monkeypatch.setattr(towers, "_MLP_ROWS", chunk_rows)

    if towers.ONEDNN_LINEAR is None:
        pytest.fail("this torch has no oneDNN; the fused path is what CPU inference runs here")
    tower = _small_convnext()
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference, x = [], tower.embeddings(pixels)
        for stage in tower.stages:  # transformers' ConvNextStage.forward, block by block
            x = stage(x)
            reference.append(x)
        calls = []
        onednn = towers.ONEDNN_LINEAR
        monkeypatch.setattr(towers, "ONEDNN_LINEAR", lambda *a: calls.append(a[3]) or onednn(*a))
        fused = tower(pixels)
    chunks = calls.count("gelu")  # every block, both GEMMs, once per chunk: 6 blocks, 17 chunks of 100 rows
    assert calls.count("none") == chunks == (6 if chunk_rows == 4096 else 17)
    for ours, ref in zip(fused, reference, strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_convnext_block_path_by_mode_dtype_and_linear_type():
    """Autograd and training keep transformers' modules; CPU fp32 with plain Linears fuses; int8's quantized
    Linears and bf16 update in place through the blocks' own layers."""
    import minigemini.modeling.towers as towers

    tower = _small_convnext()
    pixels = torch.randn(1, 3, 64, 64)
    assert tower._inference_mlp(pixels) is None  # grad enabled
    tower.train()
    with torch.no_grad():
        assert tower._inference_mlp(pixels) is None
    tower.eval()
    with torch.no_grad():
        assert tower._inference_mlp(pixels) is towers._fused_mlp
        assert tower._inference_mlp(pixels.to(torch.bfloat16)) is towers._modules_mlp
        from minigemini.quantization import quantize_int8

        holder = torch.nn.Module()
        holder.aux_vision_tower = tower
        quantize_int8(holder)
        assert tower._inference_mlp(pixels) is towers._modules_mlp


@pytest.mark.parametrize("variant", ["int8", "bf16"])
@pytest.mark.parametrize("chunk_rows", [4096, 100])
def test_in_place_convnext_inference_equals_transformers_blocks(monkeypatch, variant, chunk_rows):
    """The in-place block is transformers' ConvNextLayer.forward through the same layers: equal maps, bit for bit,
    in one chunk. In chunks of 100 rows, int8 quantizes each chunk's activations with its own scale: close."""
    import minigemini.modeling.towers as towers
    from minigemini.quantization import quantize_int8

    monkeypatch.setattr(towers, "_MLP_ROWS", chunk_rows)
    tower = _small_convnext()
    pixels = torch.randn(2, 3, 64, 64)
    if variant == "int8":
        holder = torch.nn.Module()
        holder.aux_vision_tower = tower
        quantize_int8(holder)
    else:
        tower, pixels = tower.to(torch.bfloat16), pixels.to(torch.bfloat16)
    with torch.no_grad():
        reference, x = [], tower.embeddings(pixels)
        for stage in tower.stages:  # transformers' ConvNextStage.forward, block by block
            x = stage(x)
            reference.append(x)
        assert tower._inference_mlp(pixels) is towers._modules_mlp
        calls = []
        modules_mlp = towers._modules_mlp
        monkeypatch.setattr(towers, "_modules_mlp", lambda *a: calls.append(1) or modules_mlp(*a))
        maps = tower(pixels)
    assert len(calls) == (6 if chunk_rows == 4096 else 17)  # 6 blocks; in chunks of 100 rows, 17 MLP calls
    assert len(maps) == len(reference) == 4
    for ours, ref in zip(maps, reference, strict=True):
        if chunk_rows == 4096 or variant == "bf16":
            assert torch.equal(ours, ref)
        else:
            assert not torch.equal(ours, ref)
            assert ((ours - ref).norm() / ref.norm()).item() < 0.02
