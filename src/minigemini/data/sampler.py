"""Length-grouped sampling that keeps image and text-only samples apart (official `group_by_modality_length`).

Samples are split by modality (positive lengths: with images; negative: text-only), shuffled with a
seeded generator, cut into megabatches of `world_size * batch_size`, sorted by length inside each
megabatch and dealt to ranks so per-rank lengths balance. Unlike the official code, which merges the
two leftover partial megabatches into one mixed batch, a partial megabatch is filled up by repeating
samples of its own modality (as `DistributedSampler` pads), so no batch ever mixes modalities.
`training.data.BatchPlan` turns the megabatches into each rank's batches for an epoch.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


def _balanced_chunks(indices: list[int], lengths: Sequence[int], num_chunks: int) -> list[list[int]]:
    """Deal longest-first into the chunk with the smallest total length, `len(indices) // num_chunks` each."""
    size = len(indices) // num_chunks
    chunks: list[list[int]] = [[] for _ in range(num_chunks)]
    totals = [0.0] * num_chunks
    for i in indices:
        k = totals.index(min(totals))
        chunks[k].append(i)
        totals[k] = math.inf if len(chunks[k]) == size else totals[k] + lengths[i]
    return chunks


def _megabatches(group: list[int], lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator) -> list[list[list[int]]]:
    size = batch_size * world_size
    perm = [group[i] for i in torch.randperm(len(group), generator=generator).tolist()]
    target = math.ceil(len(perm) / size) * size
    padded = (perm * math.ceil(target / len(perm)))[:target]
    out = []
    for start in range(0, len(padded), size):
        mega = sorted(padded[start : start + size], key=lambda i: lengths[i], reverse=True)
        out.append(_balanced_chunks(mega, lengths, world_size))
    return out


def modality_grouped_megabatches(
    lengths: Sequence[int], batch_size: int, world_size: int = 1, generator: torch.Generator | None = None
) -> list[list[list[int]]]:
    """Megabatches of one modality each, as `world_size` per-rank batches of `batch_size` indices."""
    if any(n == 0 for n in lengths):
        raise ValueError("lengths must be non-zero: positive for image samples, negative for text-only ones")
    generator = generator or torch.Generator().manual_seed(0)
    magnitudes = [abs(n) for n in lengths]
    groups = [[i for i, n in enumerate(lengths) if n > 0], [i for i, n in enumerate(lengths) if n < 0]]
    megabatches = [m for g in groups if g for m in _megabatches(g, magnitudes, batch_size, world_size, generator)]
    order = torch.randperm(len(megabatches), generator=generator).tolist()
    return [megabatches[i] for i in order]

