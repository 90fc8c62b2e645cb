"""`ModelPredictor`: answers `EvalRequest`s with a minigemini checkpoint, batched with left padding."""

from __future__ import annotations

from pathlib import Path

import torch

from .predictor import Decoding, EvalRequest


def user_message(question: str, image_count: int) -> list[dict]:
    """One user turn: the images first (as MGM puts `<image>` before the question), then the text."""
    content = [{"type": "image"} for _ in range(image_count)] + [{"type": "text", "text": question}]
    return [{"role": "user", "content": content}]


def generation_kwargs(decoding: Decoding, image_token_id: int) -> dict:
    """`generate` settings; the image placeholder is suppressed, as the official -200 id can never be sampled."""
    kwargs = {
        "max_new_tokens": decoding.max_new_tokens,
        "do_sample": decoding.do_sample,
        "num_beams": decoding.num_beams,
        "suppress_tokens": [image_token_id],
    }
    if decoding.do_sample:
        kwargs["temperature"] = decoding.temperature
    return kwargs


class ModelPredictor:
    """Applies the processor's chat template, generates, and decodes only the new tokens."""

    def __init__(self, model, processor, model_id: str):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id

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
        prompts = [
            self.processor.apply_chat_template(user_message(r.question, len(r.images)), add_generation_prompt=True)
            for r in batch
        ]
        inputs = self.processor(text=prompts, images=[r.images for r in batch], return_tensors="pt", padding_side="left")
        device = next(self.model.parameters()).device
        inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
        if decoding.seed is not None:
            torch.manual_seed(decoding.seed)
        output = self.model.generate(**inputs, **generation_kwargs(decoding, self.processor.image_token_id))
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]
