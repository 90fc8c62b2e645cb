"""YAML mixtures: per-dataset weights or counts, deterministic from the seed."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from minigemini.data.mixture import MixtureDataset, load_mixture, read_mixture


class Rows(torch.utils.data.Dataset):
    """A stand-in dataset whose items are (file name, row)."""

    def __init__(self, json_path, image_root, **kwargs):
        self.name, self.n, self.kwargs = json_path.name, json.loads(json_path.read_text()), kwargs
        self.modality_lengths = [1] * self.n if "img" in self.name else [-1] * self.n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.name, i


@pytest.fixture
def mixture(tmp_path):
    (tmp_path / "img.json").write_text("10")
    (tmp_path / "txt.json").write_text("4")
    path = tmp_path / "mix.yaml"
    path.write_text(
        "seed: 5\n"
        "datasets:\n"
        "  - {json: img.json, image_root: pics, weight: 0.5}\n"
        "  - {json: txt.json, count: 10, template: vicuna_v1}\n"
    )
    return path


def test_weights_scale_and_counts_fix_the_number_of_samples(mixture):
    ds = load_mixture(mixture, dataset_factory=Rows, template="gemma")
    items = [ds[i] for i in range(len(ds))]
    img = [i for name, i in items if name == "img.json"]
    txt = [i for name, i in items if name == "txt.json"]
    assert len(img) == 5 and len(set(img)) == 5  # half, without replacement
    assert sorted(Counter(txt).values()) == [2, 2, 3, 3]  # 10 of 4 rows: two full passes, then 2 more
    assert ds.datasets[1].kwargs["template"] == "vicuna_v1" and ds.datasets[0].kwargs["template"] == "gemma"
    assert ds.modality_lengths == [1] * 5 + [-1] * 10


def test_mixture_is_deterministic_for_a_seed(mixture):
    a = load_mixture(mixture, dataset_factory=Rows)
    b = load_mixture(mixture, dataset_factory=Rows)
    assert a.index == b.index
    c = MixtureDataset(a.datasets, [5, 10], seed=6)
    assert c.index != a.index


def test_paths_resolve_against_the_yaml_folder(mixture):
    sources, seed = read_mixture(mixture)
    assert seed == 5
    assert sources[0].json == mixture.parent / "img.json" and sources[0].image_root == mixture.parent / "pics"


@pytest.mark.parametrize(
    ("entry", "error"),
    [("{json: a.json, weight: 1, count: 2}", "not both"), ("{json: a.json, wieght: 1}", "unknown keys"), ("{image_root: x}", "needs at least 'json'")],
)
def test_bad_entries_name_the_problem(tmp_path, entry, error):
    path = tmp_path / "mix.yaml"
    path.write_text(f"datasets:\n  - {entry}\n")
    with pytest.raises(ValueError, match=error):
        read_mixture(path)
