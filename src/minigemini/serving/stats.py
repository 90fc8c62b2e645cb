"""Batch statistics of the model worker (served at `GET /v1/stats`)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BatchStats:
    """Counts of batches, their sizes, requests and generated tokens; thread-safe."""

    batches: int = 0
    requests: int = 0
    generated_tokens: int = 0
    batch_sizes: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, size: int, tokens: int) -> None:
        with self._lock:
            self.batches += 1
            self.requests += size
            self.generated_tokens += tokens
            self.batch_sizes[size] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "batches": self.batches,
                "requests": self.requests,
                "generated_tokens": self.generated_tokens,
                "max_batch_size_seen": max(self.batch_sizes, default=0),
                "batch_size_histogram": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            }
