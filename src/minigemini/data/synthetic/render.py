"""Layouts and rendering: cluttered backgrounds with framed texture patches whose LR view is class-blind.

Geometry is kept in LR pixels ("cells"); one cell is `f = hr_size // lr_size` HR pixels (f even, >= 4).
The processor's LR view (bilinear, align_corners=False, no antialias, exactly f times down) makes LR
pixel i the mean of HR pixels f*i + f/2 - 1 and f*i + f/2 along each axis. Patches start on cell
boundaries and every texture has mean `mid` on each sampled 2x2 block, so the LR image is a function
of the layout alone: the texture kind is invisible to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from minigemini.constants import CLIP_MEAN, CLIP_STD

KINDS = ("checkerboard", "vertical stripes", "horizontal stripes", "dots", "grid", "plain")
"""Texture kinds. Period-2 ones average to `mid` on any 2x2 block; dots and grid lines sit only on unsampled pixels."""

FRAME_CELLS = 1
"""Width of the white frame around each patch, in LR pixels (visible to both views)."""

FRAME_COLOR = (255, 255, 255)
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")


@dataclass(frozen=True)
class Patch:
    """One framed patch: interior at [top, top + size) x [left, left + size) in HR px; colours mid -/+ delta."""

    top: int
    left: int
    size: int
    mid: tuple[int, int, int]
    delta: int

    def location(self, hr_size: int) -> str:
        """Quadrant name of the patch centre."""
        centre = 2 * np.array([self.top, self.left]) + self.size
        down, right = (centre >= hr_size).tolist()
        return QUADRANTS[2 * down + right]


@dataclass(frozen=True)
class Layout:
    """Everything about an image except the texture kinds: background [H, H, 3] uint8 (clutter and frames) and patches."""

    background: np.ndarray
    patches: tuple[Patch, ...]
    factor: int


MIN_LR_SIZE = 40
"""Smallest LR side whose 4x4 count grid still holds framed patches of 8 LR px (one ViT token) each."""


def patch_cells(task: str, lr_size: int) -> int:
    """Patch interior side in LR pixels: a third of the image for one patch anywhere (texture) or one per
    quadrant (quadrant); what fits a 4x4 grid cell for count. Always a whole ViT token (8 cells) or more."""
    if task in ("texture", "quadrant"):
        return lr_size // 3
    if task == "count":
        return lr_size // 4 - 2 * FRAME_CELLS
    raise ValueError(f"unknown task {task!r}")


def scale_factor(hr_size: int, lr_size: int) -> int:
    """f = hr_size / lr_size; must be an even integer >= 4 for the sampled/unsampled pixel split to exist."""
    f, rem = divmod(hr_size, lr_size)
    if rem or f < 4 or f % 2:
        raise ValueError(f"hr_size / lr_size must be an even integer >= 4, got {hr_size} / {lr_size}")
    if lr_size < MIN_LR_SIZE:
        raise ValueError(f"lr_size must be >= {MIN_LR_SIZE} to fit a 4x4 grid of framed patches, got {lr_size}")
    return f


def texture(kind: str, size: int, factor: int, mid: Sequence[int], delta: int) -> np.ndarray:
    """[size, size, 3] uint8 texture; `size` a multiple of `factor`, placed on a cell boundary."""
    y, x = np.indices((size, size))
    lo, hi = np.asarray(mid) - delta, np.asarray(mid) + delta
    edge_x = (x % factor == 0) | (x % factor == factor - 1)  # unsampled border columns of each cell
    edge_y = (y % factor == 0) | (y % factor == factor - 1)
    masks = {
        "checkerboard": ((x + y) % 2 == 1, hi, lo),
        "vertical stripes": (x % 2 == 1, hi, lo),
        "horizontal stripes": (y % 2 == 1, hi, lo),
        "dots": (edge_x & edge_y, hi, mid),  # 2x2 dots on cell corners, period f
        "grid": ((x % factor == 0) | (y % factor == 0), lo, mid),  # 1 px lines, period f
        "plain": (np.zeros((size, size), bool), mid, mid),
    }
    mask, on, off = masks[kind]
    return np.where(mask[..., None], on, off).astype(np.uint8)


def _clutter(rng: np.random.Generator, hr_size: int) -> np.ndarray:
    """[H, H, 3] uint8: a colour gradient under 8-14 random solid rectangles and ellipses."""
    angle = rng.uniform(0, 2 * np.pi)
    axis = np.linspace(0, 1, hr_size, dtype=np.float32)
    ramp = np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None]
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    c0, c1 = rng.integers(24, 233, size=(2, 3)).astype(np.float32)
    img = np.rint(c0 + (c1 - c0) * ramp[..., None]).astype(np.uint8)
    for _ in range(rng.integers(8, 15)):
        cy, cx = rng.uniform(0, hr_size, size=2)
        hy, hx = rng.uniform(0.03, 0.2, size=2) * hr_size
        y0, y1 = int(max(cy - hy, 0)), int(min(cy + hy + 1, hr_size))
        x0, x1 = int(max(cx - hx, 0)), int(min(cx + hx + 1, hr_size))
        y = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
        x = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
        if rng.random() < 0.5:
            mask = (np.abs(y - cy) < hy) & (np.abs(x - cx) < hx)
        else:
            mask = ((y - cy) / hy) ** 2 + ((x - cx) / hx) ** 2 < 1
        img[y0:y1, x0:x1][mask] = rng.integers(24, 233, size=3)
    return img


def _patch_corners(rng: np.random.Generator, task: str, lr_size: int) -> list[tuple[int, int]]:
    """Interior top-left corners in LR px: 1 anywhere (texture), 1 per quadrant (quadrant), 4 in a 4x4 grid (count)."""
    box = patch_cells(task, lr_size) + 2 * FRAME_CELLS

    def place(y0: int, x0: int, span: int) -> tuple[int, int]:
        dy, dx = rng.integers(0, span - box + 1, size=2)
        return int(y0 + dy + FRAME_CELLS), int(x0 + dx + FRAME_CELLS)

    if task == "texture":
        return [place(0, 0, lr_size)]
    if task == "quadrant":
        half = lr_size // 2
        return [place(half * (q // 2), half * (q % 2), half) for q in range(4)]
    if task == "count":
        g = lr_size // 4
        return [place(g * (c // 4), g * (c % 4), g) for c in sorted(rng.choice(16, size=4, replace=False))]
    raise ValueError(f"unknown task {task!r}")


def sample_layout(rng: np.random.Generator, task: str, hr_size: int, lr_size: int) -> Layout:
    """Random clutter, patch positions (on cell boundaries) and patch colours for `task`; no texture kinds."""
    f = scale_factor(hr_size, lr_size)
    img = _clutter(rng, hr_size)
    patches = []
    cells = patch_cells(task, lr_size)
    for cy, cx in _patch_corners(rng, task, lr_size):
        delta = int(rng.integers(40, 65))
        mid = tuple(int(v) for v in rng.integers(delta, 256 - delta, size=3))
        patch = Patch(cy * f, cx * f, cells * f, mid, delta)
        w = FRAME_CELLS * f
        img[patch.top - w : patch.top + patch.size + w, patch.left - w : patch.left + patch.size + w] = FRAME_COLOR
        patches.append(patch)
    return Layout(img, tuple(patches), f)


def render(layout: Layout, kinds: Sequence[str]) -> np.ndarray:
    """[H, H, 3] uint8: the layout with patch i filled by texture kinds[i]."""
    img = layout.background.copy()
    for p, kind in zip(layout.patches, kinds, strict=True):
        img[p.top : p.top + p.size, p.left : p.left + p.size] = texture(kind, p.size, layout.factor, p.mid, p.delta)
    return img


def model_views(images: np.ndarray, lr_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The processor's two views of [N, H, H, 3] uint8 images: (hr [N, 3, H, H], lr [N, 3, lr, lr]) float32.

    CLIP-normalise; HR as is; LR = bilinear interpolate, align_corners=False, no antialias.
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    hr = (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    lr = F.interpolate(hr, size=(lr_size, lr_size), mode="bilinear", align_corners=False)
    return hr, lr
