"""Per-request incremental detokenization with stop strings, safe to stream chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass, field


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters might begin a stop string (they wait for the next token)."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest


@dataclass
class TextDecoder:
    """Accumulates one row's token ids and yields only text that is final.

    Text is held back while it ends in an incomplete UTF-8 sequence or could be the start of a stop
    string; a complete stop string ends the row and is not part of the output.
    """

    tokenizer: object
    stops: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    emitted: int = 0
    stopped: bool = False

    def text(self) -> str:
        return self.tokenizer.decode(self.ids, skip_special_tokens=True)

    def add(self, token_id: int) -> str:
        """Append a token; return the newly final text (possibly empty)."""
        self.ids.append(token_id)
        text = self.text()
        for stop in self.stops:
            at = text.find(stop, max(0, self.emitted - len(stop)))
            if at != -1:
                self.stopped = True
                return self._emit(text[:at])
        if text.endswith("\ufffd"):
            return ""
        return self._emit(text[: len(text) - _held_back(text, self.stops)])

    def flush(self) -> str:
        """At the end of generation: whatever was held back (unless a stop string ended the row)."""
        return "" if self.stopped else self._emit(self.text())

    def _emit(self, final: str) -> str:
        if len(final) <= self.emitted:
            return ""
        delta, self.emitted = final[self.emitted :], len(final)
        return delta
