"""Request schema of `POST /v1/chat/completions` (the OpenAI subset we serve) and its extension field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from ..answering.stops import MAX_STOP_LENGTH as MAX_STOP_CHARS  # the answering path's bounds (4 x 256 chars)
from ..answering.stops import MAX_STOP_STRINGS as MAX_STOP_SEQUENCES
from ..constants import IMAGE_TOKEN

MIN_TEMPERATURE = 0.01
"""Smallest non-zero temperature (vLLM's floor); below it logits / temperature overflow to inf. 0 is greedy."""
MIN_TOP_P = 1e-6
"""Smallest top_p: smaller values round to 0 in float32 and would leave no token to sample."""
MAX_MESSAGES = 10_000
"""Messages per request, and content parts per message, counted before any is validated (300k empty
messages fit in 10 MB and took seconds of the event loop to validate)."""
SEED_RANGE = (-(2**63), 2**63 - 1)
"""What `torch.Generator.manual_seed` accepts as a signed 64-bit seed (vLLM's range)."""


def _unicode_text(text: str) -> str:
    """Refuse strings that cannot be encoded as UTF-8 (JSON can smuggle in lone surrogates like \\ud800)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"the text holds a lone surrogate ({text[err.start]!a}) at character {err.start}; send valid UTF-8") from None
    return text


def _plain_text(text: str) -> str:
    """Message text: valid UTF-8 and no typed `<image>` marker (images go in `image_url` parts)."""
    if IMAGE_TOKEN in _unicode_text(text):
        raise ValueError(f"the text contains '{IMAGE_TOKEN}'; send images as image_url content parts, not as markers in text")
    return text


def _counted(value, what: str):
    """Refuse a list of more than `MAX_MESSAGES` items before any item is validated."""
    if isinstance(value, list) and len(value) > MAX_MESSAGES:
        raise ValueError(f"at most {MAX_MESSAGES:,} {what} are accepted, got {len(value):,}")
    return value


Text = Annotated[str, AfterValidator(_unicode_text)]


class ImageURL(BaseModel):
    url: Text
    detail: Text | None = None


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str | list[TextPart | ImagePart] | None, BeforeValidator(lambda v: _counted(v, "content parts"))] = None
    name: Text | None = None

    @field_validator("content")
    @classmethod
    def _plain_content(cls, content: str | list | None) -> str | list | None:
        for text in [content] if isinstance(content, str) else [p.text for p in content or [] if isinstance(p, TextPart)]:
            _plain_text(text)
        return content


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

    model: Text
    messages: Annotated[list[Message], BeforeValidator(lambda v: _counted(v, "messages"))] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=MIN_TOP_P, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, lt=2**31)
    max_completion_tokens: int | None = Field(default=None, ge=1, lt=2**31)
    stop: Text | list[Text] | None = None
    seed: int | None = Field(default=None, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    n: int = Field(default=1, ge=1, le=128)
    user: Text | None = None
    logprobs: bool | None = None
    tools: list[dict] | None = None
    response_format: dict | None = None
    minigemini: MiniGeminiOptions = Field(default_factory=MiniGeminiOptions)

    @field_validator("temperature")
    @classmethod
    def _temperature_not_tiny(cls, value: float | None) -> float | None:
        if value is not None and 0.0 < value < MIN_TEMPERATURE:
            raise ValueError(f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE}")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _bounded_stops(cls, value):
        stops = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        if len(stops) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed, got {len(stops)}")
        if any(isinstance(s, str) and len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"each stop sequence may be at most {MAX_STOP_CHARS} characters")
        return value

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
