"""The server's per-row router: `RowRouter` decisions streamed to each request's `Job`."""

from __future__ import annotations

from ..answering import Answerer
from ..answering.rows import RowRouter
from .jobs import Delta, Failed, Finished, Job
from .sampling import RowSampler


class BatchRouter(RowRouter):
    """Streams each row's text to its job; a cancelled client or a row whose sampling failed ends only that row.

    Rows stop at the answering path's EOS ids and at the template's stop strings plus the request's own.
    """

    def __init__(self, jobs: list[Job], answerer: Answerer, sampler: RowSampler | None = None):
        super().__init__(answerer.processor.tokenizer, [answerer.stops(job.stops) for job in jobs], answerer.eos_ids,
                         [job.max_tokens for job in jobs], [job.ignore_eos for job in jobs])
        self.jobs, self.sampler = jobs, sampler
        for row, job in enumerate(jobs):
            if job.cancelled.is_set():
                self.finish(row, "cancelled")
            elif (error := self.failure(row)) is not None:
                self.finish(row, "failed", error)

    def on_delta(self, row: int, text: str) -> None:
        self.jobs[row].emit(Delta(text))

    def on_finish(self, row: int, reason: str, tokens: int, error: str | None) -> None:
        self.jobs[row].emit(Failed(error) if reason == "failed" else Finished(reason, tokens))

    def cancelled(self, row: int) -> bool:
        return self.jobs[row].cancelled.is_set()

    def failure(self, row: int) -> str | None:
        return None if self.sampler is None else self.sampler.errors.get(row)
