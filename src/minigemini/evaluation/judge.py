"""An LLM judge behind any OpenAI-compatible chat-completions endpoint.

Transport errors are retried by the `openai` client (with backoff) and then counted, never raised,
so one flaky call cannot end a scoring run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

API_KEY_VARIABLES = ("MINIGEMINI_JUDGE_API_KEY", "OPENAI_API_KEY")
LOCAL_SERVER_KEY = "EMPTY"

log = logging.getLogger(__name__)


@dataclass
class Judge:
    """Sends single-turn prompts to `model` and counts the calls that failed."""

    model: str
    base_url: str | None = None
    api_key: str = LOCAL_SERVER_KEY
    timeout_s: float = 60.0
    max_retries: int = 3
    calls: int = 0
    failures: int = 0
    _client: Any = field(default=None, repr=False)

    def complete(self, prompt: str, *, temperature: float = 0.0, max_tokens: int = 256) -> str | None:
        """The judge's reply text, or None when the call failed after retries."""
        openai = _openai()
        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s, max_retries=self.max_retries
            )
        self.calls += 1
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=temperature,
                max_tokens=max_tokens,
            )
            return response.choices[0].message.content or ""
        except (openai.OpenAIError, IndexError, AttributeError) as error:
            self.failures += 1
            log.warning("judge call failed (%s): %s", type(error).__name__, error)
            return None

    def describe(self) -> dict:
        return {"model": self.model, "base_url": self.base_url, "calls": self.calls, "failures": self.failures}


def _openai():
    try:
        import openai
    except ImportError as error:
        raise ImportError("judge-scored benchmarks need the openai client: pip install 'minigemini[eval]'") from error
    return openai


def judge_from_settings(model: str, base_url: str | None = None, timeout_s: float = 60.0) -> Judge:
    """Build a judge, taking the key from MINIGEMINI_JUDGE_API_KEY or OPENAI_API_KEY.

    A custom `base_url` (a local vLLM or similar server) may run without a key; the default OpenAI
    endpoint may not.
    """
    key = next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
    if key is None and base_url is None:
        raise ValueError(
            f"judge model {model!r} needs an API key: set {' or '.join(API_KEY_VARIABLES)}, "
            "or point --judge-base-url at an OpenAI-compatible server that needs none"
        )
    return Judge(model=model, base_url=base_url, api_key=key or LOCAL_SERVER_KEY, timeout_s=timeout_s)
