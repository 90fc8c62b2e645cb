"""Patch info mining: each LR token attends to the M x M HR features under its own patch.

    T_V = MLP(X + softmax(phi_q(X) phi_k(H)ᵀ / sqrt(d)) phi_v(H))

with phi = LayerNorm + Linear, as in the official `unified_resampler`. The official code builds the
HR map H by upsampling ConvNeXt stages 1-3 to stride 4 and concatenating all four stages (2880
channels for ConvNeXt-L), then applies LayerNorm + Linear at every HR position. This module computes
the *same* attention without building H, and without building keys or values at HR positions:

    Linear(LN(h)) = (W (gamma * h) - mu * (W gamma)) / sigma + (W beta + b)

Bilinear resampling R_i is linear, separable (R_i = r_i ⊗ r_i, r_i an [S, h_i] matrix made by
F.interpolate itself) and acts per channel, and the windows are local, so with stage i centred on its
per-position channel mean (ŝ_i = s_i - m_i) and W_i the folded K or V weights of its channels:

    scores: q·k(p)  = (1/sigma(p)) [sum_i R_i((W_iᵀ q) · ŝ_i)(p) + sum_i delta_i(p) (q · W_i 1)] + q · b_k
    values: sum_p a(p) v(p) = sum_i W_i (sum_u (R_iᵀ a/sigma)(u) ŝ_i(u)) + sum_i (sum_p a delta_i/sigma) W_i 1 + b_v

(delta_i = R_i(m_i) - mu). Scores come from the query pulled back through W_i onto the few stage
positions under each window, values from the attention pushed back through the transpose of the
resampling. The LayerNorm statistics are exact too: mu from each stage's resampled channel mean, and
sum_c (R_i ŝ_ic)(p)² from inner products of neighbouring stage positions (ŝ(u)·ŝ(u+d)), resampled by
the products of the interpolation weights. Everything is computed in fp32 whatever the model's dtype.
Measured at real size (benchmarks/inference.py): nothing of size HR map x 1024 channels is allocated,
and mining costs a few percent of the vision towers' time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def resampling_matrix(side: int, size: int, halve: bool, device: torch.device) -> torch.Tensor:
    """The [S, side] weights of the official per-axis bilinear resize to `size` (then the x0.5 of the HD
    global view if `halve`), taken from F.interpolate applied to the identity, so they are its own weights."""
    eye = torch.eye(side, device=device).view(1, side, side, 1)  # channel u = unit impulse at row u
    if side != size:
        eye = F.interpolate(eye, size=(size, 1), mode="bilinear", align_corners=False)
    if halve:
        eye = F.interpolate(eye, scale_factor=(0.5, 1.0), mode="bilinear", align_corners=False)
    return eye[0, :, :, 0].T.contiguous()


def window_bands(r: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per window of m output rows, the L consecutive source rows it reads and their weights.

    r [S, h] -> index [W, L] (long), weights [W, m, L] with W = S / m; L is the widest window's support.
    """
    s, h = r.shape
    blocks = r.view(s // m, m, h)
    used = (blocks != 0).any(1)  # [W, h]
    pos = torch.arange(h, device=r.device)
    lo = torch.where(used, pos, h).amin(1)
    hi = torch.where(used, pos + 1, 0).amax(1)
    width = int((hi - lo).max())
    index = lo.clamp(max=h - width)[:, None] + torch.arange(width, device=r.device)
    return index, blocks.gather(2, index[:, None, :].expand(-1, m, -1))


def _shift(x: torch.Tensor, dim: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views (a, b) of x along `dim` with b[u] = x[u + d]: the pairs (u, u + d) that both exist."""
    n = x.shape[dim]
    lo = max(0, -d)
    return x.narrow(dim, lo, n - abs(d)), x.narrow(dim, lo + d, n - abs(d))


def window_partition(x: torch.Tensor, grid: int) -> torch.Tensor:
    """[B, D, g*M, g*M] -> [B, g*g, M*M, D]: token r*g+c owns rows [rM, rM+M) x cols [cM, cM+M), row-major."""
    b, d, s, _ = x.shape
    m = s // grid
    return x.view(b, d, grid, m, grid, m).permute(0, 2, 4, 3, 5, 1).reshape(b, grid * grid, m * m, d)


class _Stage:
    """One ConvNeXt stage, centred per position, with the resampling that takes it to the mining map."""

    def __init__(self, stage: torch.Tensor, size: int, halve: bool, m: int):
        x = stage.detach().permute(0, 2, 3, 1).float()  # [B, h, h, C] channels-last view
        self.mean = x.mean(-1)  # [B, h, h]
        self.centred = torch.empty(x.shape, device=x.device)  # contiguous channels-last, never aliasing `stage`
        torch.sub(x, self.mean.unsqueeze(-1), out=self.centred)
        self.identity = stage.shape[-1] == size and not halve
        self.r = resampling_matrix(stage.shape[-1], size, halve, stage.device)  # [S, h]
        self.index, self.weights = window_bands(self.r, m)  # [W, L], [W, M, L]

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        """[B, h, h] -> [B, S, S]."""
        return x if self.identity else self.r @ x @ self.r.T

    def sum_of_squares(self, chunk: int) -> torch.Tensor:
        """sum_c (R ŝ_c)(p)² [B, S, S] from inner products of stage positions u, u + (dy, dx) in reach of one p.

        sum_c (R ŝ_c)(p)² = sum_{u,u'} r(p,u) r(p,u') ŝ(u)·ŝ(u'); the offset -d gives the same term as d.
        """
        if self.identity:
            return sum(part.square().sum(-1) for part in self.centred.split(chunk, dim=-1))
        reach = int((self.r != 0).sum(1).max()) - 1  # widest |u - u'| read by one output position
        offsets = [(dy, dx) for dy in range(reach + 1) for dx in range(-reach if dy else 0, reach + 1)]
        grams = self.centred.new_zeros(len(offsets), *self.centred.shape[:3])  # [K, B, h, h]
        for gram, (dy, dx) in zip(grams, offsets):
            valid = _shift(_shift(gram, 1, dy)[0], 2, dx)[0]
            for part in self.centred.split(chunk, dim=-1):
                a, b = _shift(part, 1, dy)
                valid += (_shift(a, 2, dx)[0] * _shift(b, 2, dx)[1]).sum(-1)
        left = torch.stack([self._pair_weights(dy) * (1 if (dy, dx) == (0, 0) else 2) for dy, dx in offsets])
        right = torch.stack([self._pair_weights(dx) for _, dx in offsets])  # [K, S, h]
        return (left.unsqueeze(1) @ grams @ right.unsqueeze(1).transpose(-1, -2)).sum(0)

    def _pair_weights(self, d: int) -> torch.Tensor:
        """[S, h]: r[p, u] r[p, u + d] (zero where u + d is off the map)."""
        out = torch.zeros_like(self.r)
        a, b = _shift(self.r, 1, d)
        _shift(out, 1, d)[0].copy_(a * b)
        return out

    def row_band(self, window_row: int) -> torch.Tensor:
        """The stage rows one window row reads, all columns and channels: [B, L*h, C] (a view)."""
        start, length = int(self.index[window_row, 0]), self.index.shape[1]
        return self.centred[:, start : start + length].flatten(1, 2)


class PatchInfoMining(nn.Module):
    """The three LayerNorm+Linear projections (official `vlm_uni_{query,aux,val}_projector`) and the windowed attention.

    Args:
        lr_dim: width of the LR tokens (1024 for CLIP-L); queries, keys and values all have this width.
        hr_stage_dims: channels of each HR stage (192, 384, 768, 1536 for ConvNeXt-L).
        chunk_channels: stage channels multiplied at once in the statistics pass (bounds transient memory).
    """

    def __init__(self, lr_dim: int, hr_stage_dims: list[int], chunk_channels: int = 256, eps: float = 1e-5):
        super().__init__()
        hr_dim = sum(hr_stage_dims)
        self.query_projector = nn.Sequential(nn.LayerNorm(lr_dim, eps=eps), nn.Linear(lr_dim, lr_dim))
        self.key_projector = nn.Sequential(nn.LayerNorm(hr_dim, eps=eps), nn.Linear(hr_dim, lr_dim))
        self.value_projector = nn.Sequential(nn.LayerNorm(hr_dim, eps=eps), nn.Linear(hr_dim, lr_dim))
        self.hr_stage_dims = list(hr_stage_dims)
        self.chunk_channels = chunk_channels

    def _folded(self, projector: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
        """LayerNorm gain folded into the Linear: weight [D, C] = W * gamma, bias [D] = W beta + b (fp32)."""
        ln, lin = projector
        w = lin.weight.float()
        return w * ln.weight.float(), w @ ln.bias.float() + lin.bias.float()

    def _statistics(self, stages: list[_Stage]) -> tuple[torch.Tensor, torch.Tensor]:
        """delta_i = R_i(m_i) - mu [B, S, S, n_stages] and 1/sigma [B, S, S] of the (virtual) concatenated map."""
        widths = [s.centred.shape[-1] for s in stages]
        total = sum(widths)
        means = torch.stack([s.resample(s.mean) for s in stages], -1)  # [B, S, S, n]
        mu = means @ means.new_tensor(widths) / total
        delta = means - mu.unsqueeze(-1)
        sq = sum(s.sum_of_squares(self.chunk_channels) for s in stages) + delta.square() @ delta.new_tensor(widths)
        eps = self.key_projector[0].eps
        if eps != self.value_projector[0].eps:
            raise ValueError("key and value LayerNorms must share eps to share statistics.")
        return delta, torch.rsqrt(sq / total + eps)

    def forward(
        self,
        lr_tokens: torch.Tensor,
        stages: list[torch.Tensor],
        size: int,
        halve: bool = False,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Mine the HR map for each LR token.

        lr_tokens [B, V, N, D]: V = g*g views (row-major crops) whose n x n token grids (N = n*n, row-major)
        tile the HR map. stages: [B, C_i, h_i, h_i] ConvNeXt stage maps; the HR map is every stage bilinearly
        resized to `size` (then halved if `halve`, the HD global view), as the official code builds it.
        Returns lr_tokens + mined [B, V, N, D] (the residual is onto the *raw* LR features), and with
        `return_attention` also the window attention [B, V, N, M*M] (fp32).
        """
        if [s.shape[1] for s in stages] != self.hr_stage_dims:
            raise ValueError(f"HR stage widths {[s.shape[1] for s in stages]} != configured {self.hr_stage_dims}.")
        b, views, n_tok, d = lr_tokens.shape
        g, n = math.isqrt(views), math.isqrt(n_tok)
        side = size // 2 if halve else size
        if g * g != views or n * n != n_tok or side % (g * n):
            raise ValueError(f"{views} views of {n_tok} LR tokens do not tile an HR map of side {side}.")
        w_count, m = g * n, side // (g * n)
        # queries in map order [B, W, W, D]
        x = lr_tokens.view(b, g, g, n, n, d).permute(0, 1, 3, 2, 4, 5).reshape(b, w_count, w_count, d).float()
        ln_q, lin_q = self.query_projector
        x_ln = F.layer_norm(x, (d,), ln_q.weight.float(), ln_q.bias.float(), ln_q.eps)
        q = F.linear(x_ln, lin_q.weight.float(), lin_q.bias.float())
        wk, bk = self._folded(self.key_projector)
        wv, bv = self._folded(self.value_projector)

        with torch.no_grad():
            maps = [_Stage(s, size, halve, m) for s in stages]
            delta, inv_std = self._statistics(maps)

        def win(t: torch.Tensor) -> torch.Tensor:  # [B, S, S, k] -> [B, W, W, M, M, k]
            return window_partition(t.permute(0, 3, 1, 2), w_count).view(b, w_count, w_count, m, m, -1)

        delta_w, inv_std_w = win(delta), win(inv_std.unsqueeze(-1))[..., 0]  # [.., M, M, n], [.., M, M]
        bounds = torch.tensor([0, *self.hr_stage_dims]).cumsum(0).tolist()
        row_k = torch.stack([wk[:, a:z].sum(1) for a, z in zip(bounds, bounds[1:])], 1)  # [D, n]
        row_v = torch.stack([wv[:, a:z].sum(1) for a, z in zip(bounds, bounds[1:])], 1)
        acc = ((q @ row_k).unsqueeze(-2).unsqueeze(-2) * delta_w).sum(-1)  # [B, W, W, M, M]
        for stage, a, z in zip(maps, bounds, bounds[1:]):
            acc = acc + self._window_scores(stage, q @ wk[:, a:z])  # the query pulled back onto stage i's channels
        scores = (acc * inv_std_w + (q @ bk)[..., None, None]) / math.sqrt(d)
        attn = scores.flatten(-2).softmax(-1).view_as(scores)  # [B, W, W, M, M]

        pulled = attn * inv_std_w
        mined = ((pulled.unsqueeze(-1) * delta_w).sum((-3, -2)) @ row_v.T) + bv  # [B, W, W, D]
        for stage, a, z in zip(maps, bounds, bounds[1:]):
            mined = mined + self._window_values(stage, pulled) @ wv[:, a:z].T

        def to_views(t: torch.Tensor) -> torch.Tensor:  # [B, W, W, k] -> [B, V, N, k]
            return t.reshape(b, g, n, g, n, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, views, n_tok, -1)

        out = lr_tokens + to_views(mined).to(lr_tokens.dtype)
        return (out, to_views(attn.flatten(-2))) if return_attention else out

    def _window_scores(self, stage: _Stage, qk: torch.Tensor) -> torch.Tensor:
        """R_i((W_iᵀ q) · ŝ_i) at each window's M x M positions: [B, W, W, M, M]; qk [B, W, W, C_i].

        Per window row, products of the queries with every column of its row band are one matmul; the
        resampling weights then pick and mix the columns (r as blocks [W, M, h]) and rows ([W, M, L]).
        """
        b, w_count = qk.shape[:2]
        h, length = stage.r.shape[1], stage.index.shape[1]
        prod = torch.stack([stage.row_band(y) @ qk[:, y].transpose(1, 2) for y in range(w_count)], 1)
        prod = prod.view(b, w_count, length, h, w_count)  # [B, W (row), L, h, W (column)]
        cols_mixed = torch.einsum("byjux,xnu->byjxn", prod, stage.r.view(w_count, -1, h))
        return torch.einsum("ymj,byjxn->byxmn", stage.weights, cols_mixed)

    def _window_values(self, stage: _Stage, pulled: torch.Tensor) -> torch.Tensor:
        """sum_u (R_iᵀ a/sigma)(u) ŝ_i(u) per window: [B, W, W, C_i] (the transpose of `_window_scores`)."""
        b, w_count = pulled.shape[:2]
        h, length = stage.r.shape[1], stage.index.shape[1]
        back = torch.einsum("ymj,byxmn->byjxn", stage.weights, pulled)
        back = torch.einsum("byjxn,xnu->byxju", back, stage.r.view(w_count, -1, h)).flatten(3)  # [B, W, W, L*h]
        return torch.stack([back[:, y] @ stage.row_band(y) for y in range(w_count)], 1)
