"""OpenAI response bodies: `chat.completion`, `chat.completion.chunk` and server-sent-event framing."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class ResponseMeta:
    """What every body of one completion shares."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


def usage(prompt_tokens: int, completion_tokens: int, image_tokens: int) -> dict:
    """Token usage; `prompt_tokens` includes the image tokens, also reported on their own."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": image_tokens},
    }


def completion(meta: ResponseMeta, text: str, finish_reason: str, usage_: dict, extension: dict) -> dict:
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage_,
        "minigemini": extension,
    }


def chunk(meta: ResponseMeta, delta: dict, finish_reason: str | None = None, **extra) -> dict:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}] if delta is not None else []
    return {"id": meta.id, "object": "chat.completion.chunk", "created": meta.created, "model": meta.model, "choices": choices, **extra}


def sse(payload: dict | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"
