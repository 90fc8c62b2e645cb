"""The `<GEN>` trigger and the `<h>...</h>` prompt markup of MGM's any-to-any mode.

Official behaviour (`mgm/serve/cli.py`): the user text gets `" <GEN>"` appended, and the SDXL
prompt is the content of the last complete `<h>...</h>` pair in the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..constants import GEN_TRIGGER

PROMPT_OPEN = "<h>"
PROMPT_CLOSE = "</h>"

_PAIR = re.compile(r"<h>((?:(?!<h>|</h>).)*)</h>", re.DOTALL)
_PAIR_WITH_SPACE = re.compile(r"[ \t]*<h>(?:(?!<h>|</h>).)*</h>", re.DOTALL)
_STRAY = re.compile(r"([ \t]*)(?:</?h>|<GEN>)([ \t]*)")


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer split into the image prompt (None: no image) and the visible text."""

    prompt: str | None
    text: str


def add_gen_trigger(user_text: str) -> str:
    """Append the official `" <GEN>"` trigger to a user turn (idempotent)."""
    if user_text.rstrip().endswith(GEN_TRIGGER):
        return user_text
    return f"{user_text} {GEN_TRIGGER}"


def wrap_prompt(prompt: str) -> str:
    """Wrap an image prompt the way MGM's generation data does: `<h>prompt</h>`."""
    return f"{PROMPT_OPEN}{prompt.strip()}{PROMPT_CLOSE}"


def parse_answer(answer: str) -> ParsedAnswer:
    """Extract the image prompt from `answer` and strip all prompt markup from the text.

    The last complete `<h>...</h>` pair wins (as `outputs.split("</h>")[-2].split("<h>")[-1]`
    does officially); if it is empty, or there is no complete pair, there is no image. Complete
    pairs are removed from the text with their content; stray `<h>`, `</h>` and `<GEN>` tags are
    removed and their surrounding text kept.
    """
    pairs = _PAIR.findall(answer)
    prompt = pairs[-1].strip() if pairs else ""
    text = _PAIR_WITH_SPACE.sub("", answer)
    text = _STRAY.sub(lambda m: " " if m.group(1) or m.group(2) else "", text).strip()
    return ParsedAnswer(prompt=prompt or None, text=text)
