"""The model worker: one thread pulls queued jobs, batches them (left padding) into `generate()` calls.

Inputs, EOS ids, stop detection, padding and the image-feature and KV-prefix caches come from `minigemini.answering`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

from ..answering import Answerer, PrefixCache
from ..padding import pad_rows
from .errors import APIError
from .jobs import Failed, Job
from .router import BatchRouter
from .sampling import RowSampler
from .stats import BatchStats

log = logging.getLogger("minigemini.serving")

_STOP = object()
SERVER_PREFIX_CACHE_BYTES = 512 * 2**20  # KV prefixes of recent batch-of-one requests (image features: 256 MiB more)


def collate(jobs: list[Job], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Left-pad the jobs' `input_ids` to one width (with the attention mask) and concatenate their images in row order."""
    ids, mask = pad_rows([job.inputs["input_ids"][0] for job in jobs], pad_token_id, side="left")
    batch = {"input_ids": ids, "attention_mask": mask}
    for key in ("pixel_values", "pixel_values_aux"):
        parts = [job.inputs[key] for job in jobs if key in job.inputs]
        if parts:
            batch[key] = torch.cat(parts)
    return batch


class Engine:
    """Owns the model; `submit` enqueues a job, a single worker thread runs batches of up to `max_batch_size`.

    After the first job of a batch arrives the worker waits up to `batch_window_ms` for more, so
    concurrent requests share one `generate()`; requests arriving during a batch form the next one.
    Image features are cached for every batch; a batch of one also starts from the longest cached KV
    prefix with the same tokens and images (a shared system prompt and image, or an earlier turn).
    """

    def __init__(self, model, processor, *, max_batch_size: int = 8, batch_window_ms: float = 5.0, max_queue: int = 256):
        self.model, self.processor = model, processor
        self.max_batch_size, self.batch_window = max_batch_size, batch_window_ms / 1000
        self.max_queue = max_queue
        self.stats = BatchStats()
        prefixes = PrefixCache(processor.image_token_id, processor.image_seq_length, SERVER_PREFIX_CACHE_BYTES, 8)
        self.answerer = Answerer(model, processor, prefix_cache=prefixes)
        self._queue: queue.Queue = queue.Queue()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="minigemini-model-worker", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Job) -> None:
        """Queue a job; 503 while shutting down, 429 when the queue is full."""
        if self._closing:
            raise APIError(503, "The server is shutting down; retry on another instance.", "server_shutting_down")
        if self._queue.qsize() >= self.max_queue:
            raise APIError(429, f"The request queue is full ({self.max_queue} waiting). Retry shortly.", "queue_full")
        self._queue.put(job)

    def close(self, timeout: float | None = None) -> None:
        """Finish every queued job, then stop the worker thread."""
        self._closing = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # ---- worker thread ------------------------------------------------------------------------------
    def _next_batch(self) -> list[Job] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        batch, deadline = [first], time.monotonic() + self.batch_window
        while len(batch) < self.max_batch_size:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is _STOP:
                self._queue.put(_STOP)  # finish this batch, then stop
                break
            batch.append(job)
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._generate(batch)
            except Exception:  # report to every waiting client (details stay in the server log), keep serving
                log.exception("generate() failed for a batch of %d", len(batch))
                for job in batch:
                    job.emit(Failed("Generation failed on the server; the details are in its log. Retry the request."))

    def _generate(self, jobs: list[Job]) -> None:
        sampler = RowSampler([job.sampling for job in jobs])
        router = BatchRouter(jobs, self.answerer, sampler)
        if all(router.done):
            return
        config = GenerationConfig(
            max_new_tokens=max(job.max_tokens for job in jobs),
            do_sample=False,
            pad_token_id=self.processor.pad_token_id,
            eos_token_id=[],  # EOS is decided per row by the router (`ignore_eos`); [] keeps the model default out
        )
        run = dict(generation_config=config, logits_processor=LogitsProcessorList([sampler]),
                   stopping_criteria=StoppingCriteriaList([router]))
        with torch.inference_mode():
            if len(jobs) == 1:  # reuses the KV of the longest cached prefix (same tokens, same images)
                self.answerer.generate_one(jobs[0].inputs, **run)
            else:
                self.model.generate(**self.answerer.model_inputs(collate(jobs, self.processor.pad_token_id)),
                                    cache=self.answerer.new_cache(), **run)
        self.stats.record(len(jobs), router.generated_tokens)  # before the last rows are released to clients
        router.finish_all("length")
