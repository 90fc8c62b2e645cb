"""transformers 5 renamed the KV cache argument to `cache`: our forward and generate must not trip its
deprecation path (a FutureWarning on every call), and the old name must still reach the LLM."""

from __future__ import annotations

import warnings

import pytest
import torch

from _mgm_reference import make_image

PROMPT = "USER: <image>\nWhat is in the image? ASSISTANT:"


def _future_warnings(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]


def test_generate_and_a_training_forward_emit_no_future_warning(tiny_normal):
    model, processor = tiny_normal
    batch = processor(PROMPT, [[make_image(3)]])
    with torch.no_grad():
        assert _future_warnings(lambda: model.generate(**batch, max_new_tokens=4, do_sample=False)) == []
        assert _future_warnings(lambda: model(**batch, labels=batch["input_ids"])) == []


def test_the_old_past_key_values_name_still_continues_from_the_cache(tiny_normal):
    model, processor = tiny_normal
    batch = processor(PROMPT, [[make_image(4)]])
    ids = batch["input_ids"]
    with torch.no_grad():
        full = model(**batch).logits[:, -1]
        head = {k: (v[:, :-1] if k in ("input_ids", "attention_mask") else v) for k, v in batch.items()}
        first = model(**head, use_cache=True)
        step = model(input_ids=ids[:, -1:], attention_mask=batch["attention_mask"], past_key_values=first.cache,
                     use_cache=True)
    torch.testing.assert_close(step.logits[:, -1], full, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="cache"):
        model(input_ids=ids[:, -1:], cache=first.cache, past_key_values=first.cache)
