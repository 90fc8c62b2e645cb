"""Our previous mining path (git bfb3e50), kept only to time it beside the current one in benchmarks/inference.py.

It projected every ConvNeXt stage at its own resolution, resampled the projections and so built K and V
at full HR resolution ([B, 2 x 1024, 192, 192] fp32 in the normal geometry), then attended per window.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from minigemini.modeling.mining import PatchInfoMining, window_partition


def _interpolate(x: torch.Tensor, size: int, halve: bool) -> torch.Tensor:
    """Bilinear resize to `size` (official upsampling), then optionally the global view's 1/2 downsample.

    Runs in channels-last memory (several times faster on CPU for many channels); the result keeps it.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if halve:
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    return x


class PreviousMining(PatchInfoMining):
    """bfb3e50's project_hr (keys and values at every HR position) and windowed attention, on today's parameters."""

    def _hr_statistics(
        self, stages: list[torch.Tensor], size: int, halve: bool
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Per-position channel statistics of the (virtual) concatenated map, fp32, [B, 1, S, S] each.

        Returns each stage's resampled channel mean R_i(m_i), the overall mean mu and 1/std.
        """
        total = sum(s.shape[1] for s in stages)
        stage_means = [_interpolate(s.float().mean(1, keepdim=True), size, halve) for s in stages]
        mean = sum(s.shape[1] * m for s, m in zip(stages, stage_means)) / total
        sq = torch.zeros_like(mean)
        for s in stages:
            for chunk in s.split(self.chunk_channels, dim=1):
                sq += (_interpolate(chunk.float(), size, halve) - mean).square().sum(1, keepdim=True)
        eps = self.key_projector[0].eps
        if eps != self.value_projector[0].eps:
            raise ValueError("key and value LayerNorms must share eps to share statistics.")
        return stage_means, mean, torch.rsqrt(sq / total + eps)

    def project_hr(self, stages: list[torch.Tensor], size: int, halve: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the HR map at every position.

        stages: [B, C_i, h_i, h_i] ConvNeXt stage maps; stage i is bilinearly resized to `size` (then halved
        if `halve`), exactly as the official code resizes before concatenating.
        Returns k, v: [B, D, S, S] fp32 (channels-last memory), S = size (or size / 2).
        """
        if [s.shape[1] for s in stages] != self.hr_stage_dims:
            raise ValueError(f"HR stage widths {[s.shape[1] for s in stages]} != configured {self.hr_stage_dims}.")
        stage_means, mean, inv_std = self._hr_statistics(stages, size, halve)
        (ln_k, lin_k), (ln_v, lin_v) = self.key_projector, self.value_projector
        # Fold the LayerNorm gains into the Linear weights, and stack K and V to project once.
        w = torch.cat([lin_k.weight * ln_k.weight, lin_v.weight * ln_v.weight], 0)  # [2D, C]
        compute_dtype = torch.float32 if w.dtype == torch.float16 else w.dtype  # fp16 activations can overflow
        # Each stage is centred on its own per-position channel mean before projecting, so a large common
        # offset never cancels catastrophically; the means come back exactly through a rank-n_stages term:
        #   W (gamma * h) - mu W gamma = sum_i R_i(W_i gamma_i (s_i - m_i)) + sum_i (W_i gamma_i 1)(R_i(m_i) - mu)
        # Every [B, 2D, S, S] map below lives in channels-last memory: projections are plain matmuls over
        # the last axis and resampling is several times faster on CPU (its backward, see `_Resample`, copies
        # the incoming gradient into that layout once).
        acc = None
        start, row_sums = 0, []
        for s in stages:
            c = s.shape[1]
            w_i = w[:, start : start + c]
            start += c
            x = s.permute(0, 2, 3, 1).to(compute_dtype)  # [B, h, w, C_i]
            proj = ((x - x.mean(-1, keepdim=True)) @ w_i.to(compute_dtype).T).float()  # [B, h, w, 2D]
            part = _interpolate(proj.permute(0, 3, 1, 2), size, halve)
            acc = part if acc is None else acc + part
            row_sums.append(w_i.float().sum(1))
        offsets = torch.cat([m - mean for m in stage_means], dim=1).permute(0, 2, 3, 1)  # [B, S, S, n_stages]
        acc = acc + (offsets @ torch.stack(row_sums, 1).T).permute(0, 3, 1, 2)
        bias = torch.cat([lin_k.weight @ ln_k.bias + lin_k.bias, lin_v.weight @ ln_v.bias + lin_v.bias]).float()
        acc = acc * inv_std + bias.view(1, -1, 1, 1)
        return acc.chunk(2, dim=1)

    # ---- attention --------------------------------------------------------------------------------
    def forward(
        self, lr_tokens: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """lr_tokens [B, N, D] (N = g*g, row-major); keys, values [B, D, g*M, g*M].

        Returns lr_tokens + mined [B, N, D] (the residual is onto the *raw* LR features), and with
        `return_attention` also the window attention [B, N, M*M] (fp32).
        """
        b, n, d = lr_tokens.shape
        grid = math.isqrt(n)
        if grid * grid != n or keys.shape[-1] % grid:
            raise ValueError(f"{n} LR tokens do not tile an HR map of side {keys.shape[-1]}.")
        q = self.query_projector(lr_tokens).float()  # [B, N, D]
        k = window_partition(keys, grid)  # [B, N, M², D]
        v = window_partition(values, grid)
        scores = torch.einsum("bnd,bnmd->bnm", q, k.float()) / math.sqrt(d)
        attn = scores.softmax(dim=-1)
        mined = torch.einsum("bnm,bnmd->bnd", attn, v.float())
        out = lr_tokens + mined.to(lr_tokens.dtype)
        return (out, attn) if return_attention else out
