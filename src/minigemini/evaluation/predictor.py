"""What the evaluation runner asks of a model: the `Predictor` protocol and its request type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image


@dataclass(frozen=True)
class Decoding:
    """Generation settings for one request (greedy by default)."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 0.0
    num_beams: int = 1
    seed: int | None = None
    stops: tuple[str, ...] = ()  # stop strings besides the template's (lmms-eval's `until`)

    def as_dict(self) -> dict:
        return {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "temperature": self.temperature,
            "num_beams": self.num_beams,
            "seed": self.seed,
        }


@dataclass
class EvalRequest:
    """One question for the model: plain text (no chat template applied), its images, and decoding."""

    question: str
    images: list[Image.Image] = field(default_factory=list)
    decoding: Decoding = field(default_factory=Decoding)


@runtime_checkable
class Predictor(Protocol):
    """Anything that answers a batch of `EvalRequest`s with one string each, in order."""

    model_id: str

    def predict(self, requests: list[EvalRequest]) -> list[str]: ...
