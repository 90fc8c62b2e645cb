"""A multi-turn chat over one model: images, streaming, OCR hints and `<GEN>` image generation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .answering import Answerer, user_turn


@dataclass
class ChatTurn:
    user: str
    answer: str = ""
    images: list = field(default_factory=list)
    image_paths: list[str] = field(default_factory=list)
    generated_prompt: str | None = None
    generated_image: str | None = None


class ChatSession:
    """Keeps the history (texts and images) and answers one user turn at a time.

    The images of a turn go before its text, as the official CLI does; a generated image prompt
    stays in the history as text (`<h>prompt</h>` is what the model wrote). Answers come from an
    `Answerer`, whose caches make a follow-up turn prefill only its new tokens.
    """

    def __init__(self, model, processor, *, max_new_tokens: int = 512, temperature: float = 0.2, top_p: float | None = None,
                 ocr: bool = False, bridge=None, output_dir: str | Path = "."):
        self.model, self.processor = model, processor
        self.answerer = Answerer(model, processor)
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.ocr, self.bridge = ocr, bridge
        self.output_dir = Path(output_dir)
        self.turns: list[ChatTurn] = []
        self.pending: list = []
        self.pending_paths: list[str] = []

    def add_image(self, image, path: str | None = None) -> None:
        """Queue an image (path, PIL, array) for the next user turn; it is validated now."""
        self.pending.append(self.processor.image_processor.load(image, name=path or "image"))
        self.pending_paths.append(path or "<in-memory>")

    def reset(self) -> None:
        self.turns, self.pending, self.pending_paths = [], [], []

    def _messages(self, new: ChatTurn) -> list[dict]:
        messages = []
        for turn in [*self.turns, new]:
            messages.append(user_turn(turn.user, len(turn.images)))
            if turn is not new:
                messages.append({"role": "assistant", "content": turn.answer})
        return messages

    def stream(self, text: str) -> Iterator[str]:
        """Answer `text` (with the queued images), yielding text pieces as they are generated."""
        from .generation.markup import add_gen_trigger

        user = text
        if self.ocr and self.pending:
            from .ocr import ocr_reference_line

            user += "".join(ocr_reference_line(img) for img in self.pending)
        if self.bridge is not None:
            user = add_gen_trigger(user)
        turn = ChatTurn(user=user, images=self.pending, image_paths=self.pending_paths)
        self.pending, self.pending_paths = [], []
        images = [img for t in [*self.turns, turn] for img in t.images]
        pieces = []
        for piece in self.answerer.stream(self._messages(turn), images, max_new_tokens=self.max_new_tokens,
                                          temperature=self.temperature, top_p=self.top_p):
            pieces.append(piece)
            yield piece
        answer = "".join(pieces)
        turn.answer = answer.strip()
        if self.bridge is not None:
            result = self.bridge.respond(turn.answer, self.output_dir)
            turn.generated_prompt = result.prompt
            turn.generated_image = str(result.path) if result.path else None
        self.turns.append(turn)

    def ask(self, text: str) -> ChatTurn:
        for _ in self.stream(text):
            pass
        return self.turns[-1]

    def save(self, path: str | Path) -> Path:
        """Write the conversation as JSON (texts, image paths, generated prompts and images)."""
        path = Path(path)
        rows = [
            {"user": t.user, "images": t.image_paths, "answer": t.answer,
             "generated_prompt": t.generated_prompt, "generated_image": t.generated_image}
            for t in self.turns
        ]
        path.write_text(json.dumps(rows, indent=2))
        return path
