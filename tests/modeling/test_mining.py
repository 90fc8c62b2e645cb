"""The factorised patch info mining equals the plain official formula that builds the concatenated HR map."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from _mgm_reference import concat_hr_map, mine_reference
from minigemini.modeling.mining import PatchInfoMining, resampling_matrix, window_partition

DIMS = [8, 16, 24, 32]  # four ConvNeXt-like stages (192/384/768/1536 in ConvNeXt-L)
D = 16


def random_mining(seed: int = 0, chunk_channels: int = 5) -> PatchInfoMining:
    """Random weights *and* random LayerNorm affine parameters (the default init would hide gamma/beta bugs)."""
    torch.manual_seed(seed)
    m = PatchInfoMining(D, DIMS, chunk_channels=chunk_channels)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 0.3)
        for ln in (m.query_projector[0], m.key_projector[0], m.value_projector[0]):
            ln.weight.normal_(1.0, 0.3)
    return m.eval()


def random_stages(batch: int, side: int, seed: int = 1, offset: float = 0.0, scale: float = 1.0):
    """Stage i: [B, C_i, side/2^i, side/2^i], growing magnitude per stage like a real ConvNeXt, plus an offset."""
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, c, side >> i, side >> i, generator=g) * (2**i) * scale + offset for i, c in enumerate(DIMS)
    ]


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


def ours_normal(m, lr, stages, side):
    return m(lr[:, None], stages, side)[:, 0]


def ours_hd(m, lr_global, lr_crops, stages, side, grid=2):
    """The HD path of the model: global view against the halved map, crops against the g x g split."""
    out_global = m(lr_global[:, None], stages, side, halve=True)[:, 0]
    return out_global, m(lr_crops, stages, side)


def ours_and_reference_hd(m, lr_global, lr_crops, stages, side):
    """Ours (in m's dtype), then the float64 per-token reference on the same rounded inputs (m becomes float64)."""
    glob, local = ours_hd(m, lr_global, lr_crops, stages, side)
    m.double()
    s64 = [s.double() for s in stages]
    truth_global = mine_reference(m, lr_global.double(), s64, hd_global=True)
    return glob, local, truth_global, mine_reference(m, lr_crops.double(), s64, grid=2)


def test_window_partition_gives_token_r_c_the_rows_rM_and_cols_cM_in_row_major_order():
    grid, m, d = 3, 2, 2
    side = grid * m
    rows = torch.arange(side).view(side, 1).expand(side, side)
    cols = torch.arange(side).view(1, side).expand(side, side)
    x = torch.stack([rows, cols]).unsqueeze(0).float()  # channel 0 = row index, channel 1 = col index
    win = window_partition(x, grid)
    assert win.shape == (1, grid * grid, m * m, d)
    for r in range(grid):
        for c in range(grid):
            expected = [(r * m + i, c * m + j) for i in range(m) for j in range(m)]
            got = [tuple(int(v) for v in p) for p in win[0, r * grid + c]]
            assert got == expected, f"token ({r},{c})"


def test_reference_hr_map_has_all_stages_at_stride_4():
    stages = random_stages(1, 16)
    hr = concat_hr_map(stages)
    assert hr.shape == (1, sum(DIMS), 16, 16)
    torch.testing.assert_close(hr[:, : DIMS[0]], stages[0])


def test_factorised_mining_equals_per_token_loop_fp32_normal():
    """Official-like geometry: 3x3 LR tokens, 8x8 HR window each (M = 8 as in MGM)."""
    m = random_mining()
    stages = random_stages(2, 24, offset=0.5)
    lr = torch.randn(2, 9, D)
    with torch.no_grad():
        ours = ours_normal(m, lr, stages, 24)
        truth = mine_reference(m.double(), lr.double(), [s.double() for s in stages])
        m.float()
        official_fp32 = mine_reference(m, lr, stages)
    assert ours.dtype == torch.float32
    assert rel_err(official_fp32, truth) < 1e-6  # the reference itself is sane
    assert rel_err(ours, truth) < 2e-6


def test_factorised_mining_equals_per_token_loop_fp32_hd_global_and_local():
    """HD: map of side 2*S; global view vs the map halved by F.interpolate(scale_factor=0.5); crops vs 2x2 split."""
    m = random_mining(seed=3)
    side = 16  # two crops of 8, 4x4 tokens per view, M = 2
    stages = random_stages(2, side, seed=4, offset=0.5)
    lr_global = torch.randn(2, 16, D)
    lr_crops = torch.randn(2, 4, 16, D)
    with torch.no_grad():
        glob, local, truth_global, truth_local = ours_and_reference_hd(m, lr_global, lr_crops, stages, side)
    assert rel_err(glob, truth_global) < 2e-6
    assert rel_err(local, truth_local) < 2e-6


def _ours_and_reference_gradients(run) -> list[dict[str, torch.Tensor]]:
    """run(mining, ours) -> output; the float64 weight gradients of a fixed weighting of it, ours then the reference's."""
    grads = []
    for ours in (True, False):
        m = random_mining(seed=5).double().train()
        out = run(m, ours)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        grads.append({n: p.grad for n, p in m.named_parameters()})
    return grads


@pytest.mark.parametrize(("hd_global", "side", "tokens"), [(False, 24, 9), (True, 16, 16)])
def test_mining_weight_gradients_equal_autograd_through_the_reference_formula(hd_global, side, tokens):
    """Training: the resampling's custom backward gives the reference formula's gradients (normal and HD global)."""
    lr = torch.randn(2, tokens, D, dtype=torch.float64)
    stages = [s.double() for s in random_stages(2, side, offset=0.5)]
    grads = _ours_and_reference_gradients(
        lambda m, ours: m(lr[:, None], stages, side, halve=hd_global)[:, 0] if ours
        else mine_reference(m, lr, stages, hd_global=hd_global))
    scale = max(g.abs().max().item() for g in grads[1].values())  # key biases' true gradient is 0 (softmax shift)
    for name, grad in grads[0].items():
        torch.testing.assert_close(grad, grads[1][name], rtol=1e-5, atol=1e-6 * scale, msg=name)  # parts run in fp32


def test_factorised_mining_bf16_is_as_accurate_as_the_official_bf16_formula():
    m = random_mining(seed=5).to(torch.bfloat16)
    stages = [s.bfloat16() for s in random_stages(2, 24, seed=6, offset=0.5)]
    lr = torch.randn(2, 9, D).bfloat16()
    with torch.no_grad():
        ours = ours_normal(m, lr, stages, 24)
        official_bf16 = mine_reference(m, lr, stages)
        truth = mine_reference(m.double(), lr.double(), [s.double() for s in stages])  # same rounded inputs
    assert ours.dtype == torch.bfloat16
    err, err_official = rel_err(ours, truth), rel_err(official_bf16, truth)
    assert err < 2e-2
    assert err <= 2 * err_official + 1e-3, (err, err_official)


def test_factorised_mining_bf16_hd_matches_reference_loosely():
    m = random_mining(seed=7).to(torch.bfloat16)
    stages = [s.bfloat16() for s in random_stages(1, 16, seed=8)]
    lr_global, lr_crops = torch.randn(1, 16, D).bfloat16(), torch.randn(1, 4, 16, D).bfloat16()
    with torch.no_grad():
        glob, local, truth_global, truth_local = ours_and_reference_hd(m, lr_global, lr_crops, stages, 16)
    assert rel_err(glob, truth_global) < 2e-2
    assert rel_err(local, truth_local) < 2e-2


def test_mining_output_is_residual_on_the_raw_lr_tokens_not_the_projected_query():
    m = random_mining(seed=9)
    stages = random_stages(1, 8, seed=10)
    lr = torch.randn(1, 4, D)
    with torch.no_grad():
        v = m.value_projector(concat_hr_map(stages).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # plain formula
        out, attn = (t[:, 0] for t in m(lr[:, None], stages, 8, return_attention=True))
        mined = torch.einsum("bnm,bnmd->bnd", attn, window_partition(v, 2))
    torch.testing.assert_close(out, lr + mined)
    torch.testing.assert_close(attn.sum(-1), torch.ones(1, 4))


def test_mining_has_no_nan_or_inf_with_large_activations_in_half_precision():
    for dtype in (torch.float16, torch.bfloat16):
        m = random_mining(seed=11).to(dtype)
        # ConvNeXt stage-3 activations reach the thousands; 3e4 is near fp16's max (65504).
        stages = [s.clamp(-3e4, 3e4).to(dtype) for s in random_stages(1, 24, seed=12, offset=200.0, scale=500.0)]
        lr = (torch.randn(1, 9, D) * 1e3).to(dtype)
        with torch.no_grad():
            out, attn = m(lr[:, None], stages, 24, return_attention=True)
            halved = m(lr[:, None], stages, 24, halve=True)
        for name, t in [("out", out), ("attn", attn), ("halved", halved)]:
            assert torch.isfinite(t).all(), f"{dtype} {name} has NaN/inf"
        assert out.dtype == dtype


def test_stage_width_mismatch_is_a_clear_error():
    m = random_mining()
    bad = random_stages(1, 8)[:3]
    with pytest.raises(ValueError, match=r"HR stage widths \[8, 16, 24\] != configured \[8, 16, 24, 32\]"):
        m(torch.randn(1, 1, 4, D), bad, 8)


@pytest.mark.parametrize(("side", "size", "halve"), [(12, 12, False), (6, 24, False), (3, 24, True), (12, 24, True)])
def test_resampling_matrix_holds_f_interpolates_own_weights(side, size, halve):
    x = torch.randn(2, 5, side, side, dtype=torch.float64)
    expected = x if side == size else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if halve:
        expected = F.interpolate(expected, scale_factor=0.5, mode="bilinear", align_corners=False)
    r = resampling_matrix(side, size, halve, x.device).double()
    torch.testing.assert_close(r @ x @ r.T, expected)


def test_factorised_mining_equals_the_reference_in_the_real_window_geometry_hd():
    """M = 8 everywhere as in MGM: HD global (map 48 -> halved 24, stage 3 upsampled x8 then halved) and 2x2 crops."""
    m = random_mining(seed=13, chunk_channels=7)
    side = 48
    stages = random_stages(1, side, seed=14, offset=0.5)
    lr_global, lr_crops = torch.randn(1, 9, D), torch.randn(1, 4, 9, D)
    with torch.no_grad():
        glob, local, truth_global, truth_local = ours_and_reference_hd(m, lr_global, lr_crops, stages, side)
    assert rel_err(glob, truth_global) < 2e-6
    assert rel_err(local, truth_local) < 2e-6


def test_hd_crop_gradients_equal_autograd_through_the_reference_formula():
    lr = torch.randn(1, 4, 9, D, dtype=torch.float64)
    stages = [s.double() for s in random_stages(1, 48, seed=15, offset=0.5)]
    grads = _ours_and_reference_gradients(lambda m, ours: m(lr, stages, 48) if ours else mine_reference(m, lr, stages, grid=2))
    scale = max(g.abs().max().item() for g in grads[1].values())
    for name, grad in grads[0].items():
        torch.testing.assert_close(grad, grads[1][name], rtol=1e-5, atol=1e-6 * scale, msg=name)


class _LargestOutput(TorchDispatchMode):
    """Records the largest tensor any aten op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_mining_never_allocates_anything_of_hr_map_size_times_the_lr_width():
    """The official formula builds [S*S, 80]-channel maps and [S*S, D] keys/values; ours stays on the stage grids."""
    torch.manual_seed(0)
    d, side = 64, 48
    m = PatchInfoMining(d, DIMS).eval()
    stages = random_stages(1, side, seed=17)
    lr = torch.randn(1, 4, 9, d)
    with torch.no_grad(), _LargestOutput() as probe:
        m(lr, stages, side)
    assert probe.largest < side * side * d // 2, probe.largest
