"""`tokenize_with_image_markers` equals the official `tokenizer_image_token`, re-implemented literally."""

from __future__ import annotations

import pytest
from tokenizers import processors

from minigemini.constants import IMAGE_MARKER_ID
from minigemini.tiny import build_tiny_tokenizer
from minigemini.tokenization import tokenize_with_image_markers


def official_tokenizer_image_token(prompt, tokenizer, image_token_index=-200):
    """Verbatim logic of mgm/mm_utils.py (LLaVA): per-chunk tokenization, keep the first BOS, drop later ones."""
    prompt_chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]

    def insert_separator(X, sep):
        return [ele for sublist in zip(X, [sep] * len(X)) for ele in sublist][:-1]

    input_ids = []
    offset = 0
    if len(prompt_chunks) > 0 and len(prompt_chunks[0]) > 0 and prompt_chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        input_ids.append(prompt_chunks[0][0])

    for x in insert_separator(prompt_chunks, [image_token_index] * (offset + 1)):
        input_ids.extend(x[offset:])
    return input_ids


PROMPTS = {
    "no image": "A chat between a curious user and an assistant. USER: What is in the image? ASSISTANT:",
    "one image": "A chat. USER: <image>\nWhat is in the image? ASSISTANT:",
    "two images": "USER: Image 1: <image>\nImage 2: <image>\nWhich quadrant? ASSISTANT:",
    "image at start": "<image>\nDescribe the picture in detail.",
    "image at end": "Describe the picture in detail. <image>",
    "only an image": "<image>",
    "adjacent images": "<image><image>\nyes or no",
}


@pytest.fixture(scope="module")
def bos_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module")
def no_bos_tokenizer():
    tok = build_tiny_tokenizer()
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    return tok


@pytest.mark.parametrize("name", list(PROMPTS))
def test_matches_official_tokenizer_image_token_with_bos(bos_tokenizer, name):
    prompt = PROMPTS[name]
    ours = tokenize_with_image_markers(prompt, bos_tokenizer)
    official = official_tokenizer_image_token(prompt, bos_tokenizer)
    assert ours.ids == official
    assert ours.ids[0] == bos_tokenizer.bos_token_id and ours.ids.count(bos_tokenizer.bos_token_id) == 1
    assert ours.num_images == prompt.count("<image>") == official.count(IMAGE_MARKER_ID)


@pytest.mark.parametrize("name", list(PROMPTS))
def test_matches_official_tokenizer_image_token_without_bos(no_bos_tokenizer, name):
    prompt = PROMPTS[name]
    assert no_bos_tokenizer("hello").input_ids[0] != no_bos_tokenizer.bos_token_id
    assert tokenize_with_image_markers(prompt, no_bos_tokenizer).ids == official_tokenizer_image_token(
        prompt, no_bos_tokenizer
    )


@pytest.mark.parametrize("name", list(PROMPTS))
def test_offsets_mode_gives_the_same_ids_and_spans_point_into_the_text(bos_tokenizer, name):
    prompt = PROMPTS[name]
    marked = tokenize_with_image_markers(prompt, bos_tokenizer, with_offsets=True)
    assert marked.ids == tokenize_with_image_markers(prompt, bos_tokenizer).ids
    for tok, (a, b) in zip(marked.ids, marked.offsets):
        if tok == IMAGE_MARKER_ID:
            assert prompt[a:b] == "<image>"
        elif b > a:
            assert bos_tokenizer.decode([tok]) == prompt[a:b]


def test_chunks_are_tokenized_separately_not_as_one_string(bos_tokenizer):
    """The official split changes tokens at chunk borders; a whole-string tokenization would differ here."""
    prompt = "USER: <image>\nWhat is in the image?"
    ids = tokenize_with_image_markers(prompt, bos_tokenizer).ids
    after = ids[ids.index(IMAGE_MARKER_ID) + 1 :]
    assert after == bos_tokenizer("\nWhat is in the image?").input_ids[1:]
