"""The official per-chunk tokenization around `<image>` markers (`tokenizer_image_token` in MGM/LLaVA).

Each chunk of text between markers is tokenized on its own, with the tokenizer's special tokens.
If the first chunk starts with BOS, the first token of every later chunk is dropped (it is that
chunk's BOS). A marker becomes `IMAGE_MARKER_ID` (-200); the processor later expands it into a run
of placeholder tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import IMAGE_MARKER_ID, IMAGE_TOKEN


@dataclass
class MarkedTokens:
    """Token ids with `IMAGE_MARKER_ID` at image positions.

    `offsets[i]` is the (start, end) character span of token i in the original text; special
    tokens and markers get an empty span at their position.
    """

    ids: list[int]
    offsets: list[tuple[int, int]]

    @property
    def num_images(self) -> int:
        return sum(1 for t in self.ids if t == IMAGE_MARKER_ID)


def tokenize_with_image_markers(text: str, tokenizer, *, with_offsets: bool = False) -> MarkedTokens:
    """Tokenize `text` exactly like the official `tokenizer_image_token`.

    Offsets need a fast tokenizer; without `with_offsets` any tokenizer works.
    """
    chunks = text.split(IMAGE_TOKEN)
    encoded, starts, pos = [], [], 0
    for chunk in chunks:
        starts.append(pos)
        pos += len(chunk) + len(IMAGE_TOKEN)
        if with_offsets:
            enc = tokenizer(chunk, return_offsets_mapping=True)
            encoded.append((list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]))
        else:
            ids = list(tokenizer(chunk)["input_ids"])
            encoded.append((ids, [(0, 0)] * len(ids)))

    bos = tokenizer.bos_token_id
    first_ids = encoded[0][0]
    drop = 1 if (first_ids and bos is not None and first_ids[0] == bos) else 0

    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    if drop:
        ids.append(first_ids[0])
        offsets.append((0, 0))
    for i, ((chunk_ids, chunk_offsets), start) in enumerate(zip(encoded, starts)):
        if i > 0:
            ids.append(IMAGE_MARKER_ID)
            offsets.append((start - len(IMAGE_TOKEN), start))
        for tok, (a, b) in zip(chunk_ids[drop:], chunk_offsets[drop:]):
            ids.append(tok)
            offsets.append((start + a, start + b) if b > a else (start + a, start + a))
    return MarkedTokens(ids=ids, offsets=offsets)
