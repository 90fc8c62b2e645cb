"""Modality-grouped length sampling: batches never mix image and text-only samples."""

from __future__ import annotations

import random

import pytest
import torch

from minigemini.data.sampler import modality_grouped_megabatches


def lengths(n_image: int, n_text: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    out = [rng.randint(1, 500) for _ in range(n_image)] + [-rng.randint(1, 500) for _ in range(n_text)]
    rng.shuffle(out)
    return out


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("n_image", "n_text", "batch", "world"), [(37, 11, 4, 1), (50, 3, 2, 4), (5, 0, 4, 2), (0, 9, 2, 2)])
def test_no_megabatch_mixes_modalities(n_image, n_text, batch, world):
    lens = lengths(n_image, n_text)
    megabatches = modality_grouped_megabatches(lens, batch, world, seeded(3))
    for mega in megabatches:
        signs = {lens[i] > 0 for batch_ in mega for i in batch_}
        assert len(signs) == 1
        assert [len(b) for b in mega] == [batch] * world
    seen = {i for mega in megabatches for b in mega for i in b}
    assert seen == set(range(len(lens)))  # every sample appears; partial megabatches are padded, not dropped


def test_lengths_are_sorted_within_a_megabatch():
    lens = lengths(64, 0)
    for mega in modality_grouped_megabatches(lens, batch_size=8, world_size=1):
        assert [lens[i] for i in mega[0]] == sorted((lens[i] for i in mega[0]), reverse=True)


def test_order_is_seeded():
    lens = lengths(30, 30)
    assert modality_grouped_megabatches(lens, 4, 1, seeded(7)) == modality_grouped_megabatches(lens, 4, 1, seeded(7))
    assert modality_grouped_megabatches(lens, 4, 1, seeded(7)) != modality_grouped_megabatches(lens, 4, 1, seeded(8))


def test_zero_length_is_rejected():
    with pytest.raises(ValueError, match="non-zero"):
        modality_grouped_megabatches([3, 0, -2], 2)
