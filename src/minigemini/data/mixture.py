"""Dataset mixtures from a YAML file, sampled deterministically from a seed.

```yaml
seed: 0
datasets:
  - json: llava_v1_5_mix665k.json   # paths are relative to this YAML file
    image_root: images
    weight: 0.5                     # a multiple of the dataset's usable rows (0.5: half, 2: twice)
  - json: text_only.jsonl
    count: 1000                     # or an exact number of samples
    template: vicuna_v1             # optional per-dataset template
```
Rows are drawn without replacement from a seeded permutation; past one full pass, whole passes
repeat. The order is deterministic; shuffling is the sampler's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import yaml
from torch.utils.data import Dataset

from .llava import LlavaDataset

_KEYS = {"name", "json", "image_root", "weight", "count", "template"}


@dataclass(frozen=True)
class MixtureSource:
    name: str
    json: Path
    image_root: Path
    weight: float | None = None
    count: int | None = None
    template: str | None = None

    def num_samples(self, available: int) -> int:
        return self.count if self.count is not None else round((1.0 if self.weight is None else self.weight) * available)


def read_mixture(path: str | Path) -> tuple[list[MixtureSource], int]:
    """The sources and seed of a mixture YAML; raises ValueError naming the bad entry."""
    path = Path(path)
    spec = yaml.safe_load(path.read_text()) or {}
    entries = spec.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty 'datasets' list")
    sources = []
    for k, entry in enumerate(entries):
        where = f"{path}: datasets[{k}]"
        if not isinstance(entry, dict) or "json" not in entry:
            raise ValueError(f"{where}: each dataset needs at least 'json'")
        if unknown := set(entry) - _KEYS:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        if "weight" in entry and "count" in entry:
            raise ValueError(f"{where}: give 'weight' or 'count', not both")
        weight, count = entry.get("weight"), entry.get("count")
        if (weight is not None and weight < 0) or (count is not None and (not isinstance(count, int) or count < 0)):
            raise ValueError(f"{where}: weight must be >= 0 and count a non-negative integer")
        sources.append(MixtureSource(
            name=str(entry.get("name", Path(entry["json"]).stem)),
            json=path.parent / entry["json"],
            image_root=path.parent / entry.get("image_root", "."),
            weight=None if weight is None else float(weight),
            count=count,
            template=entry.get("template"),
        ))
    return sources, int(spec.get("seed", 0))


def _draw(available: int, n: int, generator: torch.Generator) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        out += torch.randperm(available, generator=generator)[: n - len(out)].tolist()
    return out


class MixtureDataset(Dataset):
    """Several datasets, each drawn `sizes[k]` times, concatenated in order."""

    def __init__(self, datasets: Sequence[Dataset], sizes: Sequence[int], seed: int = 0, names: Sequence[str] | None = None):
        generator = torch.Generator().manual_seed(seed)
        self.datasets, self.names = list(datasets), list(names or range(len(datasets)))
        self.index: list[tuple[int, int]] = []
        for k, (ds, n) in enumerate(zip(self.datasets, sizes)):
            self.index += [(k, i) for i in _draw(len(ds), n, generator)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Any:
        k, j = self.index[i]
        return self.datasets[k][j]

    @property
    def modality_lengths(self) -> list[int]:
        per = [ds.modality_lengths for ds in self.datasets]
        return [per[k][j] for k, j in self.index]

    def summary(self) -> str:
        """Sample counts per source and each source's skip report."""
        counts = [sum(1 for k, _ in self.index if k == d) for d in range(len(self.datasets))]
        return "\n".join(
            f"{name}: {n} samples from {len(ds)} rows; {ds.report.summary() if hasattr(ds, 'report') else ''}"
            for name, n, ds in zip(self.names, counts, self.datasets)
        )


def load_mixture(path: str | Path, *, dataset_factory: Callable[..., Dataset] = LlavaDataset, **dataset_kwargs: Any) -> MixtureDataset:
    """Build every source with `dataset_factory(json, image_root, **dataset_kwargs)` and mix them."""
    sources, seed = read_mixture(path)
    datasets = []
    for s in sources:
        kwargs = dataset_kwargs | ({"template": s.template} if s.template else {})
        datasets.append(dataset_factory(s.json, s.image_root, **kwargs))
    sizes = [s.num_samples(len(ds)) for s, ds in zip(sources, datasets)]
    return MixtureDataset(datasets, sizes, seed, names=[s.name for s in sources])
