"""Per-row sampling inside one batched greedy `generate()`: each request keeps its own temperature,
top_p and seed, so requests with different settings share a batch, and one row's bad settings fail
only that row."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LogitsProcessor


@dataclass(frozen=True)
class SamplingParams:
    """temperature 0 means greedy; seed None draws from the OS entropy pool."""

    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator("cpu")
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


class RowSampler(LogitsProcessor):
    """Samples each row with its own settings and generator, then leaves only that token possible.

    Run `generate(do_sample=False, logits_processor=[RowSampler(...)])`: the argmax then picks the
    sampled token, so one batch can mix greedy and sampled requests with per-request seeds. A row whose
    settings cannot be sampled (a seed torch refuses, a temperature so small that the probabilities are
    not finite) is recorded in `errors` (row -> message) and gets the argmax; the router ends that row.
    """

    def __init__(self, params: list[SamplingParams]):
        self.params = params
        self.generators: list[torch.Generator | None] = []
        self.errors: dict[int, str] = {}
        for row, p in enumerate(params):
            try:
                self.generators.append(_generator(p.seed))
            except (RuntimeError, OverflowError, TypeError, ValueError) as err:
                self.generators.append(None)
                self.errors[row] = f"Sampling failed: seed {p.seed} cannot seed a generator ({type(err).__name__})."

    def _sample(self, p: SamplingParams, g: torch.Generator, logits: torch.Tensor) -> int:
        probs = torch.softmax(logits / p.temperature, dim=-1)
        if p.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, 0) - sorted_probs < p.top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        if not bool(torch.isfinite(probs).all()) or float(probs.sum()) <= 0.0:
            raise ValueError(f"temperature={p.temperature:g}, top_p={p.top_p:g} leave no finite probabilities")
        return int(torch.multinomial(probs, 1, generator=g))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        cpu_scores = scores.detach().float().cpu()
        chosen = torch.nan_to_num(cpu_scores).argmax(-1)
        for row, (p, g) in enumerate(zip(self.params, self.generators)):
            if p.temperature <= 0.0 or row in self.errors:
                continue
            try:
                chosen[row] = self._sample(p, g, cpu_scores[row])
            except (RuntimeError, ValueError) as err:
                self.errors[row] = f"Sampling failed: {err}."
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen.to(scores.device)[:, None], 0.0)
        return out
