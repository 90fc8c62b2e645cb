"""`ModelPredictor`: answers `EvalRequest`s with a minigemini checkpoint, batched with left padding."""

from __future__ import annotations

from pathlib import Path

import torch

from ..answering import Answerer, user_turn
from .predictor import Decoding, EvalRequest


class ModelPredictor:
    """Answers through `minigemini.answering.Answerer` (template, stop/EOS policy, new tokens only, feature cache)."""

    def __init__(self, model, processor, model_id: str):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.answerer = Answerer(self.model, processor)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", dtype: torch.dtype | None = None) -> "ModelPredictor":
        from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor

        model = MiniGeminiForConditionalGeneration.from_pretrained(path, **({"dtype": dtype} if dtype else {}))
        return cls(model.to(device), MiniGeminiProcessor.from_pretrained(path), model_id=str(path))

    @torch.inference_mode()
    def predict(self, requests: list[EvalRequest]) -> list[str]:
        answers: dict[int, str] = {}
        by_decoding: dict[Decoding, list[int]] = {}
        for position, request in enumerate(requests):
            by_decoding.setdefault(request.decoding, []).append(position)
        for decoding, positions in by_decoding.items():
            batch = [requests[p] for p in positions]
            for position, text in zip(positions, self._generate(batch, decoding)):
                answers[position] = text
        return [answers[p] for p in range(len(requests))]

    def _generate(self, batch: list[EvalRequest], decoding: Decoding) -> list[str]:
        return self.answerer.answer(
            [[user_turn(r.question, len(r.images))] for r in batch], [r.images for r in batch],
            max_new_tokens=decoding.max_new_tokens, do_sample=decoding.do_sample,
            temperature=decoding.temperature if decoding.do_sample else None, num_beams=decoding.num_beams,
            seed=decoding.seed, stops=decoding.stops,
        )
