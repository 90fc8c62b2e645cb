"""Splits each step of a batched `generate()` into per-request deltas and per-row stop decisions."""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

from .decoding import TextDecoder
from .jobs import Delta, Finished, Job


class BatchRouter(StoppingCriteria):
    """A stopping criterion that also streams: on every step it reads the newest token of each row,
    sends that row's new text to its job, and reports the row done on EOS, a stop string, its own
    `max_tokens`, or client cancellation. Rows finish independently; the batch ends when all have.
    """

    def __init__(self, jobs: list[Job], tokenizer, eos_ids: set[int]):
        self.jobs = jobs
        self.eos_ids = eos_ids
        self.decoders = [TextDecoder(tokenizer, job.stops) for job in jobs]
        self.counts = [0] * len(jobs)
        self.done = [job.cancelled.is_set() for job in jobs]
        for i, job in enumerate(jobs):
            if self.done[i]:
                job.emit(Finished("cancelled", 0))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None = None, **kwargs) -> torch.BoolTensor:
        newest = input_ids[:, -1].tolist()
        for row, token in enumerate(newest):
            if not self.done[row]:
                self._step(row, token)
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)

    def _step(self, row: int, token: int) -> None:
        job, decoder = self.jobs[row], self.decoders[row]
        if job.cancelled.is_set():
            return self._finish(row, "cancelled")
        if token in self.eos_ids and not job.ignore_eos:
            return self._finish(row, "stop")
        self.counts[row] += 1
        delta = decoder.add(token)
        if delta:
            job.emit(Delta(delta))
        if decoder.stopped:
            self._finish(row, "stop")
        elif self.counts[row] >= job.max_tokens:
            self._finish(row, "length")

    def _finish(self, row: int, reason: str) -> None:
        self.done[row] = True
        tail = self.decoders[row].flush() if reason != "cancelled" else ""
        if tail:
            self.jobs[row].emit(Delta(tail))
        self.jobs[row].emit(Finished(reason, self.counts[row]))

    def finish_all(self, reason: str = "length") -> None:
        """After `generate()` returns: close rows it ended without a decision (its max length)."""
        for row, done in enumerate(self.done):
            if not done:
                self._finish(row, reason)

    @property
    def generated_tokens(self) -> int:
        return sum(self.counts)
