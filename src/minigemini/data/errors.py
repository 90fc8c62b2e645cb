"""`BadRow`: a training row (or its conversation) that cannot be used, with the key it is counted under."""

from __future__ import annotations


class BadRow(ValueError):
    """A row that cannot be used; `reason` is a short key for counting (`SkipReport`), the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
