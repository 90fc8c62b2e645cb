"""HD token order is [global, crop00, crop01, crop10, crop11], exactly as the official `encode_images` builds it."""

from __future__ import annotations

import torch

from _mgm_reference import make_image, mine_reference


def official_encode_images(model, pixel_values, pixel_values_aux):
    """Literal re-telling of the official HD `encode_images` (mgm-official.md §2.6).

    The official `images` tensor is [B, 5, 3, s, s] ordered [crop00, crop01, crop10, crop11, global]; ours puts the
    global view first, so reorder to the official layout, then: all B*4 crops, then the B globals, in one CLIP call;
    CLIP hidden_states[-2] without CLS; ConvNeXt once on the whole HR image; global branch against the HR map halved,
    local branch against the 2x2 row-major split; feat + aux; concatenate [global, local]; mm_projector.
    """
    b = pixel_values.shape[0]
    official = torch.cat([pixel_values[:, 1:], pixel_values[:, :1]], dim=1)
    crops, globals_ = official[:, :4].flatten(0, 1), official[:, 4]
    clip = model.vision_tower.model
    hidden = clip(pixel_values=torch.cat([crops, globals_]), output_hidden_states=True).hidden_states[-2][:, 1:]
    n, d = hidden.shape[1:]
    crop_feats, global_feats = hidden[: 4 * b].view(b, 4, n, d), hidden[4 * b :]
    stages = model.aux_vision_tower(pixel_values_aux)
    global_out = mine_reference(model.mining, global_feats, stages, hd_global=True)
    local_out = mine_reference(model.mining, crop_feats, stages, grid=2).flatten(1, 2)
    return model.projector(torch.cat([global_out, local_out], dim=1))


def test_hd_features_follow_official_encode_images_order_for_a_batch_of_two(tiny_hd):
    model, processor = tiny_hd
    batch = processor.image_processor([make_image(1, (60, 40)), make_image(2, (40, 70))])
    assert batch["pixel_values"].shape[1] == 5
    with torch.no_grad():
        ours = model.get_image_features(batch["pixel_values"], batch["pixel_values_aux"]).last_hidden_state
        ref = official_encode_images(model, batch["pixel_values"], batch["pixel_values_aux"])
    assert ours.shape == (2, 5 * 16, model.config.text_config.hidden_size)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_hd_token_blocks_are_identified_with_their_views(tiny_hd):
    """Make every view different and check each 16-token block depends on its own view only."""
    model, processor = tiny_hd
    batch = processor.image_processor([make_image(3, (64, 64))])
    pv, aux = batch["pixel_values"], batch["pixel_values_aux"]
    with torch.no_grad():
        base = model.encode_views(pv, aux)
        for view in range(5):
            changed = pv.clone()
            changed[:, view] = torch.randn_like(changed[:, view])
            out = model.encode_views(changed, aux)
            moved = [(out[0, 16 * i : 16 * (i + 1)] - base[0, 16 * i : 16 * (i + 1)]).abs().max() > 1e-4 for i in range(5)]
            assert moved == [i == view for i in range(5)], f"view {view} changed blocks {moved}"
