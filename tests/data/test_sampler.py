"""Modality-grouped length sampling: batches never mix image and text-only samples."""

from __future__ import annotations

import random

import pytest

from minigemini.data.sampler import ModalityLengthGroupedSampler


def lengths(n_image: int, n_text: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    out = [rng.randint(1, 500) for _ in range(n_image)] + [-rng.randint(1, 500) for _ in range(n_text)]
    rng.shuffle(out)
    return out


@pytest.mark.parametrize(("n_image", "n_text", "batch", "world"), [(37, 11, 4, 1), (50, 3, 2, 4), (5, 0, 4, 2), (0, 9, 2, 2)])
def test_no_megabatch_mixes_modalities(n_image, n_text, batch, world):
    lens = lengths(n_image, n_text)
    sampler = ModalityLengthGroupedSampler(lens, batch_size=batch, world_size=world, seed=3)
    megabatches = sampler.megabatches()
    for mega in megabatches:
        signs = {lens[i] > 0 for batch_ in mega for i in batch_}
        assert len(signs) == 1
        assert [len(b) for b in mega] == [batch] * world
    seen = {i for mega in megabatches for b in mega for i in b}
    assert seen == set(range(len(lens)))  # every sample appears; partial megabatches are padded, not dropped
    stream = list(sampler)
    assert len(stream) == len(sampler)
    for start in range(0, len(stream), batch):
        assert len({lens[i] > 0 for i in stream[start : start + batch]}) == 1


def test_lengths_are_sorted_within_a_megabatch():
    lens = lengths(64, 0)
    for mega in ModalityLengthGroupedSampler(lens, batch_size=8, world_size=1).megabatches():
        assert [lens[i] for i in mega[0]] == sorted((lens[i] for i in mega[0]), reverse=True)


def test_ranks_split_each_megabatch_and_cover_the_stream():
    lens = lengths(40, 24)
    full = list(ModalityLengthGroupedSampler(lens, batch_size=4, world_size=2, seed=1))
    ranks = [list(ModalityLengthGroupedSampler(lens, batch_size=4, world_size=2, rank=r, seed=1)) for r in range(2)]
    assert sorted(full) == sorted(ranks[0] + ranks[1])
    assert full[:4] == ranks[0][:4] and full[4:8] == ranks[1][:4]


def test_order_is_seeded_and_changes_per_epoch():
    lens = lengths(30, 30)
    a, b = ModalityLengthGroupedSampler(lens, 4, seed=7), ModalityLengthGroupedSampler(lens, 4, seed=7)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_zero_length_is_rejected():
    with pytest.raises(ValueError, match="non-zero"):
        ModalityLengthGroupedSampler([3, 0, -2], 2).megabatches()
