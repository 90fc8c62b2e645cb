"""Recipe data -> dataset, collator and a resumable per-rank batch order."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.llava import LlavaDataset, PaddingCollator
from ..data.mixture import MixtureDataset, load_mixture
from ..data.sampler import modality_grouped_megabatches
from ..processing import MiniGeminiProcessor
from .recipe import Recipe


def build_dataset(recipe: Recipe, processor: MiniGeminiProcessor, strict: bool = False) -> Dataset:
    """The recipe's LLaVA files (concatenated) or its mixture, tokenized for this model."""
    kwargs = dict(
        tokenizer=processor.tokenizer,
        template=processor.template or "vicuna_v1",
        image_processor=processor.image_processor,
        tokens_per_image=processor.image_seq_length,
        image_token_id=processor.image_token_id,
        max_length=recipe.model.max_length,
        strict=strict,
    )
    if recipe.data.mixture:
        return load_mixture(recipe.data.mixture, **kwargs)
    parts = [LlavaDataset(path, recipe.data.image_root, **kwargs) for path in recipe.data.train]
    return parts[0] if len(parts) == 1 else MixtureDataset(parts, [len(p) for p in parts], names=recipe.data.train)


def skip_counts(dataset: Dataset) -> tuple[Counter, int, list[str]]:
    """Bad rows by reason, substitutions, and a few `file:line` examples (this process only)."""
    sources = getattr(dataset, "datasets", [dataset])
    counts, substituted, examples = Counter(), 0, []
    for ds in sources:
        report = getattr(ds, "report", None)
        if report is not None:
            counts.update(report.counts)
            substituted += report.substituted
            examples += report.examples
    return counts, substituted, examples


@dataclass
class BatchPlan:
    """This rank's micro-batches for an epoch; depends only on (seed, epoch), so a resume can skip exactly."""

    num_samples: int
    batch_size: int
    world_size: int
    rank: int
    seed: int
    modality_lengths: list[int] | None = None

    def batches(self, epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        if self.modality_lengths is not None:
            megas = modality_grouped_megabatches(self.modality_lengths, self.batch_size, self.world_size, generator)
            return [mega[self.rank] for mega in megas]
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        size = self.batch_size * self.world_size
        n_global = len(order) // size if self.world_size > 1 else -(-len(order) // size)
        if n_global == 0:
            raise ValueError(
                f"{self.num_samples} samples cannot fill one global batch of {size} "
                f"({self.batch_size} per device x {self.world_size} processes); lower train.per_device_batch_size."
            )
        start = self.rank * self.batch_size
        return [order[g * size + start : g * size + start + self.batch_size] for g in range(n_global)]


def make_loader(dataset: Dataset, batches: list[list[int]], collator, num_workers: int, seed: int) -> DataLoader:
    """A DataLoader over a fixed list of index batches; its own generator keeps the global RNG untouched."""
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collator,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def make_collator(processor: MiniGeminiProcessor) -> PaddingCollator:
    return PaddingCollator(processor.pad_token_id)
