"""Per-row sampling inside one batched greedy `generate()`: each request keeps its own temperature,
top_p and seed, so requests with different settings share a batch."""

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


class RowSampler(LogitsProcessor):
    """Samples each row with its own settings and generator, then leaves only that token possible.

    Run `generate(do_sample=False, logits_processor=[RowSampler(...)])`: the argmax then picks the
    sampled token, so one batch can mix greedy and sampled requests with per-request seeds.
    """

    def __init__(self, params: list[SamplingParams]):
        self.params = params
        self.generators = []
        for p in params:
            g = torch.Generator("cpu")
            if p.seed is None:
                g.seed()
            else:
                g.manual_seed(p.seed)
            self.generators.append(g)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        chosen = torch.empty(scores.shape[0], dtype=torch.long)
        cpu_scores = scores.detach().float().cpu()
        for row, (p, g) in enumerate(zip(self.params, self.generators)):
            logits = cpu_scores[row]
            if p.temperature <= 0.0:
                chosen[row] = int(torch.argmax(logits))
                continue
            probs = torch.softmax(logits / p.temperature, dim=-1)
            if p.top_p < 1.0:
                sorted_probs, order = torch.sort(probs, descending=True)
                keep = torch.cumsum(sorted_probs, 0) - sorted_probs < p.top_p
                probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
            chosen[row] = int(torch.multinomial(probs, 1, generator=g))
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen.to(scores.device)[:, None], 0.0)
        return out
