"""Incremental detokenization with stop strings: one row's tokens in, final text out, piece by piece."""

from __future__ import annotations

from .stops import StopMatcher


class TextDecoder:
    """Turns one row's token ids into text deltas that are final, never decoding the whole answer again.

    Each token decodes only a short window (the ids since the previous text boundary), in the manner of
    vLLM's and TGI's detokenizers, so a long answer costs O(tokens). Text is held back while it ends in
    an incomplete UTF-8 sequence or could be the start of a stop string; a completed stop string ends
    the row (`stopped`) and neither it nor anything after it is returned.
    """

    def __init__(self, tokenizer, stops=()):
        self.tokenizer = tokenizer
        self.matcher = StopMatcher(stops)
        self._special = set(getattr(tokenizer, "all_special_ids", ()))
        self.ids: list[int] = []
        self._prefix = 0  # window start: ids before it are text already handed to the matcher
        self._read = 0  # ids before it are decoded; [prefix, read) is the context for the next piece
        self._pending = ""  # characters fed to the matcher but held back
        self.stopped = False

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _unread(self) -> str:
        """Text of the ids after the read offset, given the window before it (may end in U+FFFD)."""
        before = self._decode(self.ids[self._prefix : self._read])
        after = self._decode(self.ids[self._prefix :])
        return after[len(before) :] if len(after) > len(before) else ""

    def add(self, token_id: int) -> str:
        """Append a token; return the newly final text (possibly empty)."""
        if self.stopped or token_id in self._special:
            return ""
        self.ids.append(token_id)
        new = self._unread()
        if not new or new.endswith("\ufffd"):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return self._feed(new)

    def flush(self) -> str:
        """At the end of generation: whatever was held back (unless a stop string ended the row), without the
        bytes of a character the row did not finish."""
        if self.stopped:
            return ""
        out = self._feed(self._unread().rstrip("\ufffd"))  # an unfinished UTF-8 sequence is not text (as vLLM)
        self._prefix = self._read = len(self.ids)
        if self.stopped:
            return out
        out, self._pending = out + self._pending, ""
        return out

    def _feed(self, new: str) -> str:
        hit = self.matcher.feed(new)
        text, self._pending = self._pending + new, ""
        if hit is not None:
            end, stop = hit
            self.stopped = True
            final = text[: len(text) - len(new) + end]
            return final[: len(final) - len(stop)]
        keep = self.matcher.held
        out, self._pending = text[: len(text) - keep], text[len(text) - keep :]
        return out
