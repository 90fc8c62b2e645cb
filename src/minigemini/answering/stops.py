"""Stop strings: the bounds the server enforces and an incremental matcher, O(1) amortized work per character.

`StopMatcher` runs one Knuth-Morris-Pratt automaton per stop string over the text as it grows, so a
new token costs O(new characters x number of stops) however long the answer or the stops are, and
its state says how many trailing characters could still begin a stop (the text to hold back).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_STOP_STRINGS = 4  # as the OpenAI API
MAX_STOP_LENGTH = 256  # characters per stop string (OpenAI sets none); the server's schema refuses more


def _failure(pattern: str) -> list[int]:
    """KMP failure table: fail[i] = length of the longest proper border of pattern[: i + 1]."""
    fail, k = [0] * len(pattern), 0
    for i in range(1, len(pattern)):
        while k and pattern[i] != pattern[k]:
            k = fail[k - 1]
        if pattern[i] == pattern[k]:
            k += 1
        fail[i] = k
    return fail


class StopMatcher:
    """Finds the first stop string to complete in a text fed piece by piece.

    `steps` counts automaton transitions (at most 2 per character and stop), for tests of the cost.
    """

    def __init__(self, stops: Iterable[str]):
        self.stops = list(dict.fromkeys(s for s in stops if s))
        self._fail = [_failure(s) for s in self.stops]
        self._state = [0] * len(self.stops)
        self.steps = 0

    @property
    def held(self) -> int:
        """How many trailing characters of the text fed so far are the beginning of some stop string."""
        return max(self._state, default=0)

    def feed(self, text: str) -> tuple[int, str] | None:
        """Advance over `text`; on the first completed stop, (index in `text` just past it, the stop)."""
        if not self.stops:
            return None
        for at, char in enumerate(text):
            for j, stop in enumerate(self.stops):
                q, fail = self._state[j], self._fail[j]
                while q and stop[q] != char:
                    q = fail[q - 1]
                    self.steps += 1
                self.steps += 1
                if stop[q] == char:
                    q += 1
                if q == len(stop):
                    self._state[j] = 0
                    return at + 1, stop
                self._state[j] = q
        return None


def cut_at_stops(text: str, stops: Iterable[str]) -> str:
    """`text` up to (not including) the first stop string to complete in it; all of it if none does."""
    hit = StopMatcher(stops).feed(text)
    return text if hit is None else text[: hit[0] - len(hit[1])]
