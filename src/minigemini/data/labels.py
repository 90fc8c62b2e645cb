"""Training labels from character spans: only assistant replies and their end-of-turn text are trained.

The prompt is tokenized exactly like the official code (`tokenize_with_image_markers`); a token is
trainable when its span, leading whitespace aside, lies inside a reply plus the template's
assistant suffix (e.g. `</s>`, `<end_of_turn>\\n<eos>`, `<|eot_id|>`, ` </s>`, `<|im_end|>`, or the
plain template's `\\n`). A whitespace-only token between the generation prompt and the reply (the
space of "[/INST] 42" when a tokenizer splits it off) is trainable too: at inference the model
must write it, so it must learn to. Instead of the official whole-sample masking on a length mismatch, a
sample that cannot be masked exactly raises `BadRow`, for the dataset to count.

Truncation never splits an image: when `max_length` falls inside a placeholder run, the cut moves
to the start of that run, so that image and every later one are dropped (`num_images` says how many
images remain; the dataset processes only those).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..constants import IGNORE_INDEX, IMAGE_MARKER_ID
from ..templates import ReplySpan, Template
from ..tokenization import tokenize_with_image_markers
from .errors import BadRow

_LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


@dataclass
class TokenizedConversation:
    input_ids: list[int]
    labels: list[int]
    num_images: int  # images whose placeholder runs survived truncation


def as_messages(conversation: Sequence[dict]) -> list[dict]:
    """LLaVA `conversations` (`from`/`value`) or messages (`role`/`content`) as messages."""
    out = []
    for turn in conversation:
        if "from" in turn:
            role = _LLAVA_ROLES.get(turn["from"])
            if role is None:
                raise ValueError(f"unknown speaker {turn['from']!r}; expected human or gpt")
            out.append({"role": role, "content": turn["value"]})
        else:
            out.append(turn)
    return out


def _core_start(text: str, a: int, b: int) -> int:
    """Where a token's span starts once its leading whitespace (e.g. SentencePiece's '▁') is skipped."""
    piece = text[a:b]
    stripped = piece.lstrip()
    return a + len(piece) - len(stripped) if stripped else a


def _mask(text: str, ids: list[int], offsets: list[tuple[int, int]], regions: Sequence[ReplySpan]) -> list[int]:
    labels = [IGNORE_INDEX] * len(ids)
    for k, (tok, (a, b)) in enumerate(zip(ids, offsets)):
        if tok == IMAGE_MARKER_ID or a == b:
            continue
        core = _core_start(text, a, b)
        for r in regions:
            if r.start <= core and b <= r.turn_end:
                labels[k] = tok
            elif r.prompt_end <= a and b <= r.start and not text[a:b].strip():
                labels[k] = tok
            elif core < r.turn_end and b > r.start:
                raise BadRow(
                    "boundary_inside_token",
                    f"token {text[a:b]!r} at characters {a}:{b} straddles the reply span {r.start}:{r.turn_end}",
                )
    return labels


def _check_round_trip(text: str, ids: list[int], offsets, labels: list[int], regions, tokenizer: Any) -> None:
    for r in regions:
        got = [t for t, lab, (a, b) in zip(ids, labels, offsets) if lab != IGNORE_INDEX and r.start < b <= r.turn_end]
        decoded = tokenizer.decode(got, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        want = text[r.start : r.turn_end]
        if "".join(decoded.split()) != "".join(want.split()):
            raise BadRow("round_trip", f"trained tokens decode to {decoded!r}, expected {want!r}")


def _expand_images(ids: list[int], labels: list[int], counts: Sequence[int], image_token_id: int):
    out_ids, out_labels, runs, n = [], [], [], 0
    for tok, lab in zip(ids, labels):
        if tok == IMAGE_MARKER_ID:
            runs.append((len(out_ids), len(out_ids) + counts[n]))
            out_ids += [image_token_id] * counts[n]
            out_labels += [IGNORE_INDEX] * counts[n]
            n += 1
        else:
            out_ids.append(tok)
            out_labels.append(lab)
    return out_ids, out_labels, runs


def tokenize_conversation(
    conversation: Sequence[dict],
    template: Template,
    tokenizer: Any,
    *,
    tokens_per_image: int | Sequence[int],
    image_token_id: int,
    max_length: int | None = None,
) -> TokenizedConversation:
    """`input_ids` and `labels` for one conversation, image markers expanded into placeholder runs.

    Raises `BadRow` when no exact masking exists or nothing trainable survives truncation.
    """
    try:
        rendered = template.render_spans(as_messages(conversation))
    except ValueError as e:
        raise BadRow("render", str(e)) from e
    if not rendered.replies:
        raise BadRow("no_reply", "the conversation has no assistant reply to train on")
    marked = tokenize_with_image_markers(rendered.text, tokenizer, with_offsets=True)
    labels = _mask(rendered.text, marked.ids, marked.offsets, rendered.replies)
    _check_round_trip(rendered.text, marked.ids, marked.offsets, labels, rendered.replies, tokenizer)

    counts = [tokens_per_image] * marked.num_images if isinstance(tokens_per_image, int) else list(tokens_per_image)
    if len(counts) != marked.num_images:
        raise ValueError(f"tokens_per_image has {len(counts)} entries for {marked.num_images} images")
    ids, labels, runs = _expand_images(marked.ids, labels, counts, image_token_id)

    num_images = len(runs)
    if max_length is not None and len(ids) > max_length:
        cut = max_length
        for start, end in runs:
            if start < cut < end:
                cut = start
        ids, labels = ids[:cut], labels[:cut]
        num_images = sum(1 for _, end in runs if end <= cut)
    if all(lab == IGNORE_INDEX for lab in labels):
        raise BadRow("truncated_away", f"no trainable tokens left after truncating to max_length={max_length}")
    return TokenizedConversation(ids, labels, num_images)
