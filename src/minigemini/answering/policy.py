"""When an answer ends: the EOS ids (the model's, the tokenizer's, the template's stop tokens) and stop strings."""

from __future__ import annotations

from collections.abc import Iterable


def eos_token_ids(model, processor) -> set[int]:
    """Every id that ends an answer: generation config EOS, tokenizer EOS, and template stops that are one token."""
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    tok = processor.tokenizer
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    for stop in processor.stop_strings:
        token = tok.convert_tokens_to_ids(stop)
        if isinstance(token, int) and token != tok.unk_token_id:
            ids.add(token)
    return ids


def answer_stops(processor, extra: Iterable[str] = ()) -> list[str]:
    """The template's stop strings plus the caller's, without repeats (the server bounds the caller's first)."""
    return list(dict.fromkeys(s for s in [*processor.stop_strings, *extra] if s))
