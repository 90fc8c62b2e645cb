"""The official template strings, reproduced character for character (reference section 4.2)."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from minigemini.templates import TEMPLATE_NAMES, get_template, infer_template

Q, A = "Q", "A"
IMG_Q = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": Q}]}]
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
LLAMA3_SYSTEM = (
    "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, and assist the user with a "
    "variety of tasks using natural language."
)

OFFICIAL_PROMPTS = {
    "vicuna_v1": VICUNA_SYSTEM + " USER: <image>\nQ ASSISTANT:",
    "gemma": "<start_of_turn>user\n<image>\nQ<end_of_turn>\n<start_of_turn>model\n",
    "llama_3": LLAMA3_SYSTEM
    + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<image>\nQ<|eot_id|>"
    + "<|start_header_id|>system<|end_header_id|>\n\n",
    "mistral_instruct": "[INST] <image>\nQ [/INST]",
    "chatml_direct": "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\nQ<|im_end|>"
    "<|im_start|>assistant\n",
    "plain": "<image>",
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_PROMPTS))
def test_generation_prompt_matches_official_string(name):
    assert get_template(name).render(IMG_Q, add_generation_prompt=True) == OFFICIAL_PROMPTS[name]


def test_answer_turns_match_official_strings():
    done = IMG_Q + [{"role": "assistant", "content": A}]
    assert get_template("vicuna_v1").render(done) == OFFICIAL_PROMPTS["vicuna_v1"] + " A</s>"
    assert get_template("gemma").render(done).endswith("<start_of_turn>model\nA<end_of_turn>\n<eos>")
    assert get_template("llama_3").render(done) == OFFICIAL_PROMPTS["llama_3"] + "A<|eot_id|>"
    assert get_template("chatml_direct").render(done) == OFFICIAL_PROMPTS["chatml_direct"] + "A<|im_end|>"
    assert get_template("plain").render(done) == "<image>A\n"


def test_mistral_multi_turn_matches_llama2_style():
    conv = IMG_Q + [{"role": "assistant", "content": A}, {"role": "user", "content": "Q2"}]
    assert get_template("mistral_instruct").render(conv) == "[INST] <image>\nQ [/INST] A </s><s>[INST] Q2 [/INST]"


def test_vicuna_multi_turn_has_no_space_after_eos():
    conv = IMG_Q + [{"role": "assistant", "content": A}, {"role": "user", "content": "Q2"}]
    expected = VICUNA_SYSTEM + " USER: <image>\nQ ASSISTANT: A</s>USER: Q2 ASSISTANT:"
    assert get_template("vicuna_v1").render(conv) == expected


def test_several_images_get_one_marker_line_each_like_the_official_cli():
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": Q}]}]
    assert get_template("gemma").render(msgs).startswith("<start_of_turn>user\n<image>\n<image>\nQ<end_of_turn>")


def test_string_content_with_image_marker_is_moved_to_front_like_official_training():
    msgs = [{"role": "user", "content": "Q\n<image>"}]
    assert get_template("mistral_instruct").render(msgs) == OFFICIAL_PROMPTS["mistral_instruct"]


def test_system_message_replaces_default_system_prompt():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": Q}]
    assert get_template("chatml_direct").render(msgs).startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert get_template("mistral_instruct").render(msgs) == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nQ [/INST]"
    with pytest.raises(ValueError, match="no system role"):
        get_template("gemma").render(msgs)


def test_stop_strings_include_llama3_end_of_text():
    assert get_template("llama_3").stop_strings == ("<|eot_id|>", "<|end_of_text|>")
    assert {n: get_template(n).end_of_turn for n in ("vicuna_v1", "gemma", "mistral_instruct", "chatml_direct")} == {
        "vicuna_v1": "</s>", "gemma": "<end_of_turn>", "mistral_instruct": "</s>", "chatml_direct": "<|im_end|>"
    }


def test_roles_must_alternate():
    with pytest.raises(ValueError, match="alternating"):
        get_template("vicuna_v1").render([{"role": "assistant", "content": A}])


def test_unknown_template_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: vicuna_v1, gemma, llama_3"):
        get_template("llava_v9")
    assert "tokenizer" in TEMPLATE_NAMES


def _vocab_tokenizer(*tokens: str, chat_template: str | None = None) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(["[UNK]", "a", *tokens])}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")))
    tok.chat_template = chat_template
    return tok


@pytest.mark.parametrize(
    ("model_type", "llm_type", "tokens", "expected"),
    [
        ("mgm", "llama", ["<|eot_id|>"], "llama_3"),
        ("mgm", "llama", ["<|im_start|>"], "chatml_direct"),
        ("mgm_gemma", "gemma", [], "gemma"),
        ("mgm_mixtral", "mixtral", [], "mistral_instruct"),
        ("mgm", "mistral", [], "mistral_instruct"),
        ("mgm", "llama", ["[INST]"], "mistral_instruct"),
        ("mgm", "llama", ["</s>"], "vicuna_v1"),
    ],
)
def test_infer_template_reads_config_and_vocab(model_type, llm_type, tokens, expected):
    assert infer_template(model_type, llm_type, _vocab_tokenizer(*tokens)) == expected


CHATML_JINJA = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_tokenizer_template_inserts_image_lines():
    tok = _vocab_tokenizer(chat_template=CHATML_JINJA)
    tok.eos_token = "a"
    text = get_template("tokenizer", tok).render(IMG_Q)
    assert text == "<|im_start|>user\n<image>\nQ<|im_end|>\n<|im_start|>assistant\n"


def test_tokenizer_template_needs_a_chat_template():
    with pytest.raises(ValueError, match="chat_template"):
        get_template("tokenizer", _vocab_tokenizer())
