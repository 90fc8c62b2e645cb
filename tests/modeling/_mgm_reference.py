"""Plain, obviously-correct references for the official MGM image path (written from mgm-official.md §2).

Nothing here is clever: the HR map is *built* (2880 channels in the real model), LayerNorm+Linear is applied
at every HR position, and the windowed attention is a Python loop over LR tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def concat_hr_map(stages: list[torch.Tensor]) -> torch.Tensor:
    """Official OpenCLIPVisionTower output: stages 1-3 upsampled (bilinear, align_corners=False, fp32)
    to stage 0's size, cast back, then concatenated on channels: [B, sum C_i, H/4, W/4]."""
    size = stages[0].shape[-2:]
    maps = [stages[0]]
    for s in stages[1:]:
        maps.append(F.interpolate(s.float(), size=size, mode="bilinear", align_corners=False).to(s.dtype))
    return torch.cat(maps, dim=1)


def mine_one_view(lr_tokens, hr_map, query_proj, key_proj, value_proj):
    """Per-token loop over one view.

    lr_tokens [N, D] (N = g*g, row-major), hr_map [C, g*M, g*M]; the projectors are LayerNorm+Linear Sequentials.
    Token t = r*g + c owns HR rows [rM, rM+M) x cols [cM, cM+M); returns lr + softmax(q.k/sqrt(d)) v, [N, D].
    """
    n, d = lr_tokens.shape
    g = math.isqrt(n)
    m = hr_map.shape[-1] // g
    out = torch.empty_like(lr_tokens)
    for r in range(g):
        for c in range(g):
            t = r * g + c
            window = hr_map[:, r * m : (r + 1) * m, c * m : (c + 1) * m]  # [C, M, M]
            feats = window.reshape(hr_map.shape[0], m * m).T  # [M*M, C], row-major inside the window
            q = query_proj(lr_tokens[t])  # [D]
            k = key_proj(feats)  # [M*M, D]
            v = value_proj(feats)
            scores = torch.nan_to_num((k @ q) / math.sqrt(d))
            weights = scores.softmax(dim=0)
            out[t] = lr_tokens[t] + weights @ v
    return out


def mine_reference(module, lr_tokens, stages, *, hd_global: bool = False, grid: int = 1):
    """Official `unified_resampler` + residual for a batch, via `mine_one_view`.

    Normal (grid 1): lr_tokens [B, N, D] against the concatenated HR map.
    HD global (hd_global=True): against the map downsampled with F.interpolate(scale_factor=0.5).
    HD local (grid 2): lr_tokens [B, g*g, N, D] (row-major crops) against the map split g x g row-major.
    """
    hr = concat_hr_map(stages)
    if hd_global:
        hr = F.interpolate(hr.float(), scale_factor=0.5, mode="bilinear", align_corners=False).to(hr.dtype)
    q, k, v = module.query_projector, module.key_projector, module.value_projector
    outs = []
    for b in range(hr.shape[0]):
        if grid == 1:
            outs.append(mine_one_view(lr_tokens[b], hr[b], q, k, v))
        else:
            s = hr.shape[-1] // grid
            crops = []
            for i in range(grid):
                for j in range(grid):
                    crop = hr[b, :, i * s : (i + 1) * s, j * s : (j + 1) * s]
                    crops.append(mine_one_view(lr_tokens[b, i * grid + j], crop, q, k, v))
            outs.append(torch.stack(crops))
    return torch.stack(outs)


def make_image(seed: int, size=(50, 40)):
    """A deterministic random RGB PIL image of `size` (w, h)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
