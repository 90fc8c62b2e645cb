"""The one answering path: stop strings checked incrementally, padding, the caches (identical greedy tokens
with and without them, eviction, misses), and per-row sampling isolation in the server engine."""

from __future__ import annotations

import asyncio
import copy

import pytest
import torch
from PIL import Image

from transformers import DynamicCache

from minigemini.answering import (
    MAX_STOP_LENGTH,
    MAX_STOP_STRINGS,
    Answerer,
    ImageFeatureCache,
    PrefixCache,
    StopMatcher,
    TextDecoder,
    cut_at_stops,
    decode_answer,
    image_keys,
    user_turn,
)
from minigemini.answering.prefix import cache_bytes
from minigemini.padding import pad_rows
from minigemini.tiny import build_tiny_model_and_processor, build_tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_model_and_processor()


def red(size=(40, 30)):
    return Image.new("RGB", size, (200, 30, 30))


def blue(size=(40, 30)):
    return Image.new("RGB", size, (20, 30, 220))


def stream(tokenizer, text: str, stops: list[str]) -> tuple[list[str], bool, TextDecoder]:
    decoder = TextDecoder(tokenizer, stops)
    deltas = []
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        deltas.append(decoder.add(token))
    deltas.append(decoder.flush())
    return [d for d in deltas if d], decoder.stopped, decoder


# ---- stop strings --------------------------------------------------------------------------------
def test_a_stop_split_across_tokens_is_found_and_nothing_after_it_leaks(tokenizer):
    stop = "square USER"
    assert len(tokenizer(stop, add_special_tokens=False)["input_ids"]) > 1, "the stop must span several tokens"
    deltas, stopped, _ = stream(tokenizer, "a red square USER: and then more text", [stop])
    assert stopped and "".join(deltas) == "a red "
    assert not any("sq" in d or "more" in d for d in deltas)


def test_a_stop_at_the_very_start_gives_an_empty_answer(tokenizer):
    deltas, stopped, _ = stream(tokenizer, "USER: hello there", ["USER:"])
    assert stopped and deltas == []


def test_of_several_stops_the_first_to_complete_ends_the_text(tokenizer):
    text = "one two three four"
    deltas, stopped, _ = stream(tokenizer, text, ["four", "two", "zebra"])
    assert stopped and "".join(deltas) == "one "
    assert cut_at_stops(text, ["four", "two"]) == "one " == text.split("two")[0]


def test_text_before_a_stop_is_streamed_exactly_once_in_order(tokenizer):
    text = "The assistant gives helpful answers about pictures. ### Human: next"
    deltas, stopped, _ = stream(tokenizer, text, ["###", "Human:"])
    assert stopped and "".join(deltas) == text.split("###")[0]
    # every delta is new text: no piece repeats what an earlier delta already sent
    assert sum(len(d) for d in deltas) == len(text.split("###")[0])


def test_a_long_answer_with_the_largest_stops_costs_linear_work(tokenizer):
    """Each token decodes a short window and the matcher looks at each new character a bounded number of
    times. The detokenizer this replaced decoded the whole answer on every token (O(L^2) ids)."""
    decoded = []

    class CountingTokenizer:
        all_special_ids = tokenizer.all_special_ids

        def decode(self, ids, **kwargs):
            decoded.append(len(ids))
            return tokenizer.decode(ids, **kwargs)

    stops = [("x" * (MAX_STOP_LENGTH - 1)) + chr(ord("a") + i) for i in range(MAX_STOP_STRINGS)]
    ids = tokenizer("the red square is on the left " * 60, add_special_tokens=False)["input_ids"]
    assert len(ids) > 500
    decoder = TextDecoder(CountingTokenizer(), stops)
    text = "".join(decoder.add(t) for t in ids) + decoder.flush()
    assert text == tokenizer.decode(ids, skip_special_tokens=True)
    assert sum(decoded) <= 6 * len(ids), f"decoded {sum(decoded)} ids for a {len(ids)}-token answer"
    assert decoder.matcher.steps <= 2 * len(text) * len(stops)


def test_a_row_cut_inside_a_character_ends_before_it(tokenizer):
    ids = tokenizer("ab \u65e5\u672c", add_special_tokens=False)["input_ids"]
    cut = next(k for k in range(1, len(ids)) if tokenizer.decode(ids[:k]).endswith("\ufffd"))
    decoder = TextDecoder(tokenizer)
    text = "".join(decoder.add(t) for t in ids[:cut]) + decoder.flush()
    assert text == tokenizer.decode(ids[:cut]).rstrip("\ufffd") and "\ufffd" not in text


def test_the_matcher_holds_back_exactly_a_possible_stop_beginning():
    matcher = StopMatcher(["abcab"])
    assert matcher.feed("xxabca") is None and matcher.held == 4
    assert matcher.feed("b") == (1, "abcab")
    overlapping = StopMatcher(["aab"])
    assert overlapping.feed("aaaab") == (5, "aab"), "a failed partial match must not skip a real one"


# ---- padding -------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_rows_against_a_plain_reference(side):
    rows = [[5, 6, 7], [8], []]
    ids, mask = pad_rows(rows, pad_value=0, side=side)
    for row, got, got_mask in zip(rows, ids.tolist(), mask.tolist()):
        pad = [0] * (3 - len(row))
        assert got == (pad + row if side == "left" else row + pad)
        ones = [1] * len(row)
        assert got_mask == (pad + ones if side == "left" else ones + pad)


# ---- image-feature cache -------------------------------------------------------------------------
def plain_greedy_ids(model, processor, messages, images, max_new_tokens, eos_ids=()):
    """The reference: the processor and generate() with raw pixels, no caches; the new token ids."""
    inputs = processor(text=processor.apply_chat_template(messages), images=images)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=processor.pad_token_id, eos_token_id=sorted(eos_ids))
    return out[0, inputs["input_ids"].shape[1]:].tolist()


def plain_answer(model, processor, messages, images, max_new_tokens):
    """The reference answer text: plain greedy ids cut by the EOS/stop policy."""
    answerer = Answerer(model, processor)
    ids = plain_greedy_ids(model, processor, messages, images, max_new_tokens, answerer.eos_ids)
    return decode_answer(processor.tokenizer, ids, answerer.eos_ids, answerer.stops())


def test_cached_image_features_give_identical_greedy_tokens(tiny):
    model, processor = tiny
    answerer = Answerer(model, processor)
    prompt = processor.apply_chat_template([user_turn("What is it?", 1)])
    inputs = answerer.prepare([prompt], [[red()]])
    runs = []
    for _ in range(2):  # the first run fills the cache, the second reads it
        with torch.inference_mode():
            out = model.generate(**answerer.model_inputs(inputs), max_new_tokens=6, do_sample=False,
                                 pad_token_id=processor.pad_token_id, eos_token_id=[])
        runs.append(out[0, inputs["input_ids"].shape[1]:].tolist())
    assert answerer.feature_cache.misses == 1 and answerer.feature_cache.hits == 1
    assert runs[0] == runs[1] == plain_greedy_ids(model, processor, [user_turn("What is it?", 1)], [red()], 6)


def test_a_different_image_processor_setting_or_model_misses(tiny):
    model, processor = tiny
    pixels = processor(text="<image>", images=[red()])
    base = image_keys(model, pixels["pixel_values"], pixels["pixel_values_aux"])
    assert base == image_keys(model, pixels["pixel_values"], pixels["pixel_values_aux"])
    other_image = processor(text="<image>", images=[blue()])
    assert image_keys(model, other_image["pixel_values"], other_image["pixel_values_aux"]) != base
    shifted = copy.deepcopy(processor)
    shifted.image_processor.image_mean = [0.5, 0.5, 0.5]
    moved = shifted(text="<image>", images=[red()])
    assert image_keys(model, moved["pixel_values"], moved["pixel_values_aux"]) != base
    other_model = copy.deepcopy(model)
    assert image_keys(other_model, pixels["pixel_values"], pixels["pixel_values_aux"]) != base


def test_the_feature_cache_evicts_least_recently_used_by_bytes():
    one = torch.zeros(4, 8)  # 128 bytes
    cache = ImageFeatureCache(max_bytes=2 * 128)
    cache.put("a", one)
    cache.put("b", one.clone())
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", one.clone())
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.nbytes == 256 <= cache.max_bytes
    cache.put("huge", torch.zeros(100, 100))
    assert "huge" not in cache and len(cache) == 2


def kv_cache(length: int) -> DynamicCache:
    cache = DynamicCache()
    cache.update(torch.zeros(1, 2, length, 4), torch.zeros(1, 2, length, 4), layer_idx=0)
    return cache


def test_the_prefix_cache_evicts_least_recently_used_by_bytes():
    one = cache_bytes(kv_cache(10))  # 2 x 2 x 10 x 4 floats
    prefixes = PrefixCache(image_token_id=99, image_seq_length=4, max_bytes=2 * one)
    for first in (1, 2, 3):
        prefixes.put(torch.tensor([first, *range(10, 19)]), [], kv_cache(10))
    assert prefixes.nbytes == 2 * one
    assert prefixes.take(torch.tensor([1, *range(10, 20)]), []) is None, "the oldest entry was evicted"
    reused = prefixes.take(torch.tensor([3, *range(10, 20)]), [])
    assert (reused.length, reused.images, reused.cache.get_seq_length()) == (10, 0, 10)
    prefixes.put(torch.arange(100), [], kv_cache(100))
    assert prefixes.take(torch.arange(101), []) is None, "an entry over the whole budget is not kept"


# ---- KV prefix cache across turns ----------------------------------------------------------------
def prefill_lengths(model):
    """Record the sequence length of each LLM forward (the first one of a generate() is the prefill)."""
    lengths = []
    handle = model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["inputs_embeds"].shape[1]), with_kwargs=True)
    return lengths, handle


def two_turns(model, processor, image, second_image=None):
    """A first turn about the red image, then a follow-up (about `image` as the first turn's image, plus
    `second_image` if given) through the same Answerer: (answer, messages, images, prefilled, prompt ids)."""
    answerer = Answerer(model, processor)
    first = [user_turn("What colour is it?", 1)]
    first_answer = "".join(answerer.stream(first, [red()], max_new_tokens=8)).strip()
    messages = [*first, {"role": "assistant", "content": first_answer},
                user_turn("And its shape?", 0 if second_image is None else 1)]
    images = [image] if second_image is None else [image, second_image]
    lengths, handle = prefill_lengths(model)
    try:
        answer = "".join(answerer.stream(messages, images, max_new_tokens=8))
    finally:
        handle.remove()
    ids = answerer.prepare([answerer.prompt(messages)], [images])["input_ids"][0].tolist()
    return answer, messages, images, lengths[0], ids


def test_the_second_turn_prefills_only_new_tokens_and_answers_identically(tiny):
    model, processor = tiny
    cached, messages, images, prefilled, ids = two_turns(model, processor, red())
    assert prefilled < len(ids) - processor.image_seq_length, "the image and the first turn come from the cache"
    assert cached == "".join(Answerer(model, processor).stream(messages, images, max_new_tokens=8))
    assert cached == plain_answer(model, processor, messages, images, 8)


def test_a_conversation_about_another_image_does_not_reuse_the_image_tokens(tiny):
    model, processor = tiny
    cached, messages, images, prefilled, ids = two_turns(model, processor, blue())
    assert prefilled == len(ids) - ids.index(processor.image_token_id), "same text before the image, then all of it"
    assert cached == plain_answer(model, processor, messages, images, 8)


def test_a_new_image_in_the_second_turn_is_encoded_while_the_first_is_reused(tiny):
    model, processor = tiny
    cached, messages, images, prefilled, ids = two_turns(model, processor, red(), second_image=blue())
    assert prefilled < len(ids) - processor.image_seq_length
    assert cached == plain_answer(model, processor, messages, images, 8)


# ---- per-row sampling isolation in the server engine ---------------------------------------------
def test_a_row_with_unsamplable_settings_fails_alone(tiny):
    from minigemini.serving.engine import Engine
    from minigemini.serving.jobs import Delta, Failed, Finished, Job
    from minigemini.serving.sampling import SamplingParams

    model, processor = tiny
    engine = Engine(model, processor, max_batch_size=4, batch_window_ms=2000)
    loop = asyncio.new_event_loop()
    prompt = processor.apply_chat_template([user_turn("What is it?", 1)])
    settings = [SamplingParams(temperature=0.0), SamplingParams(temperature=1.0, seed=2**64),
                SamplingParams(temperature=1e-45, seed=1), SamplingParams(temperature=1.0, top_p=1e-45, seed=1)]
    jobs = [Job(processor(text=[prompt], images=[[red()]]), max_tokens=4, sampling=s, loop=loop) for s in settings]
    for job in jobs:
        engine.submit(job)

    async def collect(job):
        return [event async for event in job.events()]

    async def collect_all():
        return await asyncio.wait_for(asyncio.gather(*map(collect, jobs)), 120)

    try:
        events = loop.run_until_complete(collect_all())
    finally:
        engine.close(30)
        loop.close()
    assert engine.stats.batch_sizes == {4: 1}, "the four requests shared one batch"
    assert isinstance(events[0][-1], Finished) and events[0][-1].completion_tokens == 4
    assert any(isinstance(e, Delta) for e in events[0])
    for bad in events[1:3]:
        assert isinstance(bad[-1], Failed) and bad[-1].message.startswith("Sampling failed")
    # top_p ~ 1e-45 keeps the single most likely token: a valid (greedy) sample, not a failure
    assert isinstance(events[3][-1], Finished)


def test_a_shared_beginning_is_copied_so_each_conversation_keeps_its_own_prefix(tiny):
    """Server-style use of one cache by two alternating conversations about different images."""
    model, processor = tiny
    answerer = Answerer(model, processor)

    def ask(messages, images):
        inputs = answerer.prepare([answerer.prompt(messages)], [images])
        lengths, handle = prefill_lengths(model)
        try:
            with torch.inference_mode():
                out = answerer.generate_one(inputs, max_new_tokens=4, do_sample=False,
                                            pad_token_id=processor.pad_token_id, eos_token_id=[])
        finally:
            handle.remove()
        return processor.decode(out[0, inputs["input_ids"].shape[1]:]), lengths[0], inputs["input_ids"].shape[1]

    a1, _, _ = ask([user_turn("What colour is it?", 1)], [red()])
    ask([user_turn("What colour is it?", 1)], [blue()])  # shares the text before the image with a1's entry
    follow = [user_turn("What colour is it?", 1), {"role": "assistant", "content": a1}, user_turn("Sure?", 0)]
    answer, prefilled, total = ask(follow, [red()])
    assert prefilled < total - processor.image_seq_length, "the red conversation's prefix survived the blue one"
    assert answer == processor.decode(plain_greedy_ids(model, processor, follow, [red()], 4))


def test_a_failed_batch_tells_clients_nothing_of_the_exception(tiny, monkeypatch):
    from minigemini.serving.engine import Engine
    from minigemini.serving.jobs import Failed, Job
    from minigemini.serving.sampling import SamplingParams

    model, processor = tiny
    engine = Engine(model, processor, max_batch_size=1)
    secret = "<_io.BytesIO object at 0xdeadbeef> /srv/secret/path"

    def broken(*args, **kwargs):
        raise RuntimeError(secret)

    monkeypatch.setattr(engine, "_generate", broken)
    loop = asyncio.new_event_loop()
    prompt = processor.apply_chat_template([user_turn("What is it?", 1)])
    job = Job(processor(text=[prompt], images=[[red()]]), max_tokens=4, sampling=SamplingParams(), loop=loop)
    engine.submit(job)

    async def collect():
        return [event async for event in job.events()]

    try:
        events = loop.run_until_complete(asyncio.wait_for(collect(), 60))
    finally:
        engine.close(30)
        loop.close()
    assert isinstance(events[-1], Failed)
    assert "RuntimeError" not in events[-1].message and "0xdeadbeef" not in events[-1].message
    assert "secret" not in events[-1].message
