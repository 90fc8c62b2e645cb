"""Per-row stop decisions and streaming inside one batched `generate()`."""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

from .decoder import TextDecoder


class RowRouter(StoppingCriteria):
    """A stopping criterion that also streams: on every step it reads the newest token of each row, hands
    that row's new final text to `on_delta`, and ends the row on EOS, a stop string, its own token limit,
    cancellation or a failure (`on_finish(row, reason, tokens, error)`). Rows finish independently;
    the batch ends when all have. Subclasses say when a row is cancelled or has failed.
    """

    def __init__(self, tokenizer, stops: list[list[str]], eos_ids: set[int], max_tokens: list[int],
                 ignore_eos: list[bool] | None = None):
        self.decoders = [TextDecoder(tokenizer, row_stops) for row_stops in stops]
        self.eos_ids = eos_ids
        self.max_tokens = max_tokens
        self.ignore_eos = ignore_eos or [False] * len(stops)
        self.counts = [0] * len(stops)
        self.done = [False] * len(stops)

    # ---- hooks ---------------------------------------------------------------------------------
    def on_delta(self, row: int, text: str) -> None:
        """New final text of `row`."""

    def on_finish(self, row: int, reason: str, tokens: int, error: str | None) -> None:
        """`row` ended: reason is "stop", "length", "cancelled" or "failed" (with `error`)."""

    def cancelled(self, row: int) -> bool:
        return False

    def failure(self, row: int) -> str | None:
        return None

    # ---- stopping criterion --------------------------------------------------------------------
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None = None, **kwargs) -> torch.BoolTensor:
        newest = input_ids[:, -1].tolist()
        for row, token in enumerate(newest):
            if not self.done[row]:
                self._step(row, token)
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)

    def _step(self, row: int, token: int) -> None:
        if (error := self.failure(row)) is not None:
            return self.finish(row, "failed", error)
        if self.cancelled(row):
            return self.finish(row, "cancelled")
        if token in self.eos_ids and not self.ignore_eos[row]:
            return self.finish(row, "stop")
        self.counts[row] += 1
        decoder = self.decoders[row]
        if delta := decoder.add(token):
            self.on_delta(row, delta)
        if decoder.stopped:
            self.finish(row, "stop")
        elif self.counts[row] >= self.max_tokens[row]:
            self.finish(row, "length")

    def finish(self, row: int, reason: str, error: str | None = None) -> None:
        """End `row` now (its held-back text is released unless it was cancelled or failed)."""
        self.done[row] = True
        if reason not in ("cancelled", "failed") and (tail := self.decoders[row].flush()):
            self.on_delta(row, tail)
        self.on_finish(row, reason, self.counts[row], error)

    def finish_all(self, reason: str = "length") -> None:
        """After `generate()` returns: close rows it ended without a decision (its max length)."""
        for row, done in enumerate(self.done):
            if not done:
                self.finish(row, reason)

    @property
    def generated_tokens(self) -> int:
        return sum(self.counts)


class CollectingRouter(RowRouter):
    """Keeps each row's answer text (for callers that do not stream)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.texts = [""] * len(self.decoders)

    def on_delta(self, row: int, text: str) -> None:
        self.texts[row] += text
