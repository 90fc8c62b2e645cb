"""Request schema of `POST /v1/chat/completions` (the OpenAI subset we serve) and its extension field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ImageURL(BaseModel):
    url: str
    detail: str | None = None


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart | ImagePart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class MiniGeminiOptions(BaseModel):
    """The `"minigemini"` extension field.

    generate_image: ask for an image prompt (`<GEN>`) and render it; the PNG comes back in the response's
        `minigemini.generated_image.b64_png`.
    ocr: append an OCR reference line (official `Reference OCR Token: ...`) for each image of the last user turn.
    ignore_eos: keep generating until `max_tokens` (benchmarks).
    """

    model_config = ConfigDict(extra="forbid")
    generate_image: bool = False
    ocr: bool = False
    ignore_eos: bool = False


class ChatCompletionRequest(BaseModel):
    """The OpenAI chat-completions fields this server honours; other fields are ignored, and asking for
    logprobs, tools or a non-text response_format is refused (400) rather than silently dropped."""

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1)
    user: str | None = None
    logprobs: bool | None = None
    tools: list[dict] | None = None
    response_format: dict | None = None
    minigemini: MiniGeminiOptions = Field(default_factory=MiniGeminiOptions)

    def unsupported(self) -> str | None:
        """The first requested feature this server does not implement, if any."""
        if self.logprobs:
            return "logprobs"
        if self.tools:
            return "tools"
        if self.response_format and self.response_format.get("type", "text") != "text":
            return "response_format"
        return None

    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        return [s for s in stops if s]
