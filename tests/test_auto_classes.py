"""After `import minigemini`, the transformers Auto classes and `pipeline("image-text-to-text")` load our folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_checkpoints import build_tiny_checkpoint, teach_answer
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor, pipeline

from minigemini import MiniGeminiConfig, MiniGeminiForConditionalGeneration, MiniGeminiImageProcessor, MiniGeminiProcessor

QUESTION = "What colour is the square?"
ANSWER = "a red square"


def red_square():
    arr = np.zeros((40, 30, 3), dtype=np.uint8)
    arr[5:25, 5:25] = (220, 20, 20)
    return Image.fromarray(arr)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


def test_auto_config_reads_our_config(folder):
    config = AutoConfig.from_pretrained(folder)
    assert isinstance(config, MiniGeminiConfig)
    ours, direct = config.to_dict(), MiniGeminiConfig.from_pretrained(folder).to_dict()
    ours.pop("_name_or_path"), direct.pop("_name_or_path")
    assert ours == direct and config.image_seq_length == 16


def test_auto_model_for_image_text_to_text_loads_the_same_weights(folder):
    model = AutoModelForImageTextToText.from_pretrained(folder)
    direct = MiniGeminiForConditionalGeneration.from_pretrained(folder)
    assert type(model) is MiniGeminiForConditionalGeneration
    theirs = direct.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.state_dict().items())


def test_auto_processor_and_auto_image_processor_load_ours(folder):
    processor = AutoProcessor.from_pretrained(folder)
    direct = MiniGeminiProcessor.from_pretrained(folder)
    assert type(processor) is MiniGeminiProcessor
    assert processor.image_processor == direct.image_processor
    assert (processor.image_seq_length, processor.template) == (direct.image_seq_length, direct.template)
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}])
    ours, theirs = processor(text=prompt, images=[red_square()]), direct(text=prompt, images=[red_square()])
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    image_processor = AutoImageProcessor.from_pretrained(folder)
    assert type(image_processor) is MiniGeminiImageProcessor and image_processor == direct.image_processor


def test_pipeline_image_text_to_text_answers_an_image_and_a_question(folder, tmp_path):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    taught = teach_answer(folder, tmp_path / "taught", messages, [red_square()], ANSWER)
    pipe = pipeline("image-text-to-text", model=str(taught))
    chat = [{"role": "user", "content": [{"type": "image", "image": red_square()}, {"type": "text", "text": QUESTION}]}]
    out = pipe(text=chat, max_new_tokens=12, return_full_text=False)
    assert out[0]["generated_text"].strip() == ANSWER
