"""One queued generation request and the events it streams back to its HTTP handler."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import torch

from .sampling import SamplingParams


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop" | "length" | "cancelled"
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass
class Job:
    """A tokenized prompt (processor output for one row), its limits, and an asyncio event queue.

    The worker thread calls `emit`; the handler awaits `events()`. The queue is unbounded, so a slow
    client only grows its own queue (at most `max_tokens` deltas) and never stalls the batch.
    """

    inputs: dict[str, torch.Tensor]
    max_tokens: int
    sampling: SamplingParams
    stops: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    queue: asyncio.Queue | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.loop = self.loop or asyncio.get_running_loop()
        self.queue = asyncio.Queue()

    @property
    def prompt_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])

    def emit(self, event: Delta | Finished | Failed) -> None:
        """Thread-safe: hand an event to the handler's event loop (dropped if that loop is gone)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the handler's loop has closed: nobody is listening any more
            pass

    def cancel(self) -> None:
        """The client went away: the worker stops this row at its next step."""
        self.cancelled.set()

    async def events(self):
        """Deltas until one Finished or Failed event."""
        while True:
            event = await self.queue.get()
            yield event
            if not isinstance(event, Delta):
                return
