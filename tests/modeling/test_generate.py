"""`generate` on the tiny model: cache on/off, batching with left padding, beams, sampling, streaming."""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import TextIteratorStreamer

from _mgm_reference import make_image

PROMPT = "USER: {}What is in the image? ASSISTANT:"

ROWS = [  # (prompt, images): one image, two images in one row, text only, an image at the end
    (PROMPT.format("<image>\n"), [make_image(10)]),
    (PROMPT.format("Image 1: <image>\nImage 2: <image>\n"), [make_image(11, (30, 60)), make_image(12)]),
    ("USER: Describe the picture in detail. ASSISTANT:", []),
    ("USER: How many striped patches are there? <image>", [make_image(13, (64, 48))]),
]


@pytest.fixture(scope="module")
def model_proc(tiny_normal):
    model, processor = tiny_normal
    return model, processor


def greedy(model, batch, **kw):
    with torch.no_grad():
        return model.generate(
            **batch, max_new_tokens=6, do_sample=False, return_dict_in_generate=True, output_logits=True, **kw
        )


def test_generate_with_and_without_kv_cache_gives_the_same_tokens(model_proc):
    model, processor = model_proc
    batch = processor(ROWS[1][0], [ROWS[1][1]])
    cached = greedy(model, batch, use_cache=True)
    uncached = greedy(model, batch, use_cache=False)
    assert torch.equal(cached.sequences, uncached.sequences)
    torch.testing.assert_close(torch.stack(cached.logits), torch.stack(uncached.logits), rtol=1e-4, atol=1e-4)


def test_batched_rows_with_left_padding_equal_each_row_alone(model_proc):
    model, processor = model_proc
    texts, images = [r[0] for r in ROWS], [r[1] for r in ROWS]
    batch = processor(texts, images)
    assert (batch["attention_mask"][:, 0] == 0).any(), "rows of different length must be left-padded"
    assert batch["pixel_values"].shape[0] == 4  # 1 + 2 + 0 + 1 images, in marker order
    together = greedy(model, batch)
    width = batch["input_ids"].shape[1]
    for i, (text, imgs) in enumerate(ROWS):
        alone = greedy(model, processor(text, [imgs]))
        alone_len = alone.sequences.shape[1]
        new_together = together.sequences[i, width:]
        new_alone = alone.sequences[0, alone_len - new_together.shape[0] :]
        assert new_together.tolist() == new_alone.tolist(), f"row {i}"
        for step, (lt, la) in enumerate(zip(together.logits, alone.logits)):
            torch.testing.assert_close(lt[i], la[0], rtol=1e-4, atol=1e-4, msg=f"row {i} step {step}")


def test_the_prompt_row_is_returned_followed_by_new_tokens(model_proc):
    model, processor = model_proc
    batch = processor(*ROWS[0][:1], [ROWS[0][1]])
    out = greedy(model, batch)
    width = batch["input_ids"].shape[1]
    assert torch.equal(out.sequences[:, :width], batch["input_ids"])
    assert out.sequences.shape[1] == width + 6


def test_beam_search_and_sampling_run(model_proc):
    model, processor = model_proc
    batch = processor([ROWS[0][0], ROWS[2][0]], [ROWS[0][1], []])
    width = batch["input_ids"].shape[1]
    with torch.no_grad():
        beams = model.generate(**batch, max_new_tokens=5, num_beams=3, do_sample=False)
        torch.manual_seed(0)
        sampled = model.generate(**batch, max_new_tokens=5, do_sample=True, temperature=1.0, top_p=0.9)
        beam_sample = model.generate(**batch, max_new_tokens=5, num_beams=2, do_sample=True)
    for out in (beams, sampled, beam_sample):
        assert out.shape[0] == 2 and width < out.shape[1] <= width + 5
        assert torch.equal(out[:, :width], batch["input_ids"])


def test_text_iterator_streamer_streams_the_generated_text(model_proc):
    model, processor = model_proc
    batch = processor(ROWS[0][0], [ROWS[0][1]])
    streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
    result = {}

    def run():
        with torch.no_grad():
            result["ids"] = model.generate(**batch, max_new_tokens=8, do_sample=False, streamer=streamer)

    thread = threading.Thread(target=run)
    thread.start()
    pieces = list(streamer)
    thread.join()
    width = batch["input_ids"].shape[1]
    expected = processor.tokenizer.decode(result["ids"][0, width:], skip_special_tokens=True)
    assert "".join(pieces) == expected
    assert len(pieces) >= 1
