"""`MiniGeminiProcessor`: marker expansion, batching, image grouping and its error messages."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import BatchFeature

from minigemini.constants import IMAGE_MARKER_ID
from minigemini.image_processing import ImageLoadError, MiniGeminiImageProcessor
from minigemini.processing import ContextLengthError, MiniGeminiProcessor
from minigemini.tiny import build_tiny_tokenizer, tiny_config
from minigemini.tokenization import tokenize_with_image_markers

SEQ = 16  # image_seq_length of the tiny processor


def img(seed=0, size=(40, 30)):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def processor():
    tok = build_tiny_tokenizer()
    return MiniGeminiProcessor(
        tok, MiniGeminiImageProcessor(image_size=28, aux_image_size=64), image_seq_length=SEQ, model_max_length=200
    )


def expand(ids, image_token_id):
    """Reference expansion: each -200 becomes SEQ copies of the image token id."""
    out = []
    for t in ids:
        out.extend([image_token_id] * SEQ if t == IMAGE_MARKER_ID else [t])
    return out


@pytest.mark.parametrize(
    "prompt", ["USER: hi ASSISTANT:", "USER: <image>\nWhat? ASSISTANT:", "<image>\n<image>\nyes", "Describe <image>"]
)
def test_each_marker_becomes_image_seq_length_placeholder_ids(processor, prompt):
    n = prompt.count("<image>")
    out = processor(prompt, [img(i) for i in range(n)])
    marked = tokenize_with_image_markers(prompt, processor.tokenizer).ids
    assert out["input_ids"][0].tolist() == expand(marked, processor.image_token_id)
    assert int((out["input_ids"] == processor.image_token_id).sum()) == n * SEQ
    assert out["attention_mask"].all()
    if n:
        assert out["pixel_values"].shape == (n, 1, 3, 28, 28) and out["pixel_values_aux"].shape == (n, 3, 64, 64)
    else:
        assert "pixel_values" not in out


def test_image_token_is_a_real_vocabulary_entry_distinct_from_text(processor):
    tok = processor.tokenizer
    assert processor.image_token_id >= 0 and tok.convert_ids_to_tokens(processor.image_token_id) == "<image>"
    assert processor.image_token_id not in tok("USER: What is in the image?").input_ids


def test_batch_is_left_padded_by_default_and_right_padded_on_request(processor):
    texts = ["USER: <image>\nWhat is in the image? ASSISTANT:", "yes"]
    left = processor(texts, [[img(1)], []])
    short = processor("yes")["input_ids"][0].tolist()
    pad = processor.pad_token_id
    assert left["input_ids"][1, -len(short) :].tolist() == short
    assert (left["input_ids"][1, : -len(short)] == pad).all() and not left["attention_mask"][1, : -len(short)].any()
    right = processor(texts, [[img(1)], []], padding_side="right")
    assert right["input_ids"][1, : len(short)].tolist() == short
    assert right["attention_mask"][1].sum() == len(short)


def test_flat_image_list_is_consumed_in_marker_order_across_prompts(processor):
    a, b, c = img(1), img(2), img(3)
    flat = processor(["<image> x", "<image><image> y"], [a, b, c])
    grouped = processor(["<image> x", "<image><image> y"], [[a], [b, c]])
    assert (flat["pixel_values"] == grouped["pixel_values"]).all()
    single = processor.image_processor([b])["pixel_values"][0]
    assert (flat["pixel_values"][1] == single).all()


def test_too_few_images_for_the_markers(processor):
    with pytest.raises(ValueError, match=r"have 2 '<image>' marker\(s\) but 1 image\(s\) were given"):
        processor("<image>\n<image>\nCompare.", [img()])


def test_too_many_images_for_the_markers(processor):
    with pytest.raises(ValueError, match=r"have 1 '<image>' marker\(s\) but 2 image\(s\)"):
        processor("<image>\nWhat?", [img(), img(1)])
    with pytest.raises(ValueError, match=r"have 0 '<image>' marker\(s\) but 1 image"):
        processor("What?", [img()])


def test_per_prompt_image_lists_must_match_each_prompt(processor):
    with pytest.raises(ValueError, match=r"Prompt 1 has 1 '<image>' marker\(s\) but 0 image\(s\)"):
        processor(["<image> a", "<image> b"], [[img()], []])
    with pytest.raises(ValueError, match="Got 2 prompts but 1 image lists"):
        processor(["<image> a", "b"], [[img()]])


def test_prompt_longer_than_the_context_raises_context_length_error(processor):
    # 12 images x 16 tokens = 192 image tokens + text > 200
    prompt = "USER: " + "<image>" * 12 + " What is in the image? ASSISTANT:"
    with pytest.raises(ContextLengthError, match=r"211 tokens \(12 image\(s\) x 16 image tokens.*more than the model.s context of 200"):
        processor(prompt, [img(i) for i in range(12)])
    assert issubclass(ContextLengthError, ValueError)
    processor("USER: " + "<image>" * 11 + " What?", [img(i) for i in range(11)])  # fits


def test_a_corrupt_image_file_is_reported_by_name(processor, tmp_path):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageLoadError, match=r"corrupt\.png: not a readable image"):
        processor("<image>\nWhat?", [str(bad)])


def test_processor_round_trips_through_save_pretrained(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    again = MiniGeminiProcessor.from_pretrained(tmp_path)
    prompt = "USER: <image>\nWhat? ASSISTANT:"
    assert again.image_token_id == processor.image_token_id
    assert again(prompt, [img()])["input_ids"].tolist() == processor(prompt, [img()])["input_ids"].tolist()
    assert again.model_max_length == 200 and again.image_processor == processor.image_processor


def test_output_is_a_batch_feature_whose_to_casts_only_the_pixels(processor):
    out = processor("USER: <image>\nWhat? ASSISTANT:", img()).to("cpu", torch.bfloat16)
    assert isinstance(out, BatchFeature)
    assert out["input_ids"].dtype == out["attention_mask"].dtype == torch.long
    assert out["pixel_values"].dtype == out["pixel_values_aux"].dtype == torch.bfloat16


def test_folder_saved_by_the_previous_processor_format_still_loads(processor, tmp_path):
    # The format the processor wrote before it was a ProcessorMixin: tokenizer files plus this JSON,
    # whose image_processor dict has no image_processor_type.
    processor.tokenizer.save_pretrained(tmp_path)
    ip = processor.image_processor
    legacy = {
        "processor_class": "MiniGeminiProcessor",
        "image_processor": {**dataclasses.asdict(ip), "image_mean": list(ip.image_mean), "image_std": list(ip.image_std)},
        "image_seq_length": SEQ,
        "template": None,
        "model_max_length": 200,
        "padding_side": "left",
    }
    (tmp_path / "processor_config.json").write_text(json.dumps(legacy, indent=2))
    again = MiniGeminiProcessor.from_pretrained(tmp_path)
    assert again.image_processor == ip and (again.image_seq_length, again.model_max_length) == (SEQ, 200)
    prompt = "USER: <image>\nWhat? ASSISTANT:"
    assert torch.equal(again(prompt, [img()])["input_ids"], processor(prompt, [img()])["input_ids"])


def test_from_config_takes_every_geometry_from_the_model_config():
    config = tiny_config(400, hd=True, template="gemma", tokenizer_model_max_length=999)
    made = MiniGeminiProcessor.from_config(build_tiny_tokenizer(), config)
    assert made.image_processor == MiniGeminiImageProcessor.from_config(config)
    assert made.image_seq_length == config.image_seq_length == 5 * 16
    assert (made.template, made.model_max_length) == ("gemma", 999)
    out = made("<image>", [img()])
    assert int((out["input_ids"] == made.image_token_id).sum()) == config.image_seq_length
    assert out["pixel_values"].shape[1] == config.num_views
