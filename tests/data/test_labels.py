"""Labels train exactly the assistant replies (+ end-of-turn) of the official token stream."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from minigemini.constants import IGNORE_INDEX, IMAGE_MARKER_ID
from minigemini.data.errors import BadRow
from minigemini.data.labels import as_messages, tokenize_conversation
from minigemini.templates import OFFICIAL_TEMPLATES, get_template
from minigemini.tokenization import tokenize_with_image_markers

TWO_TURNS = [
    {"from": "human", "value": "<image>\nWhat is in the image?"},
    {"from": "gpt", "value": "A cat on a mat."},
    {"from": "human", "value": "What color is the bus?"},
    {"from": "gpt", "value": "It is red."},
]
TEXT_ONLY = [{"from": "human", "value": "How many birds are there?"}, {"from": "gpt", "value": "Three birds sit on the wire."}]
TWO_IMAGES = [
    {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Describe the picture."}]},
    {"role": "assistant", "content": "Two dogs play in the park."},
]
CAPTION = [{"from": "human", "value": "<image>\nDescribe the picture."}, {"from": "gpt", "value": "Two dogs play."}]


def _trained_text(tok, ids, labels) -> str:
    return tok.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX], skip_special_tokens=False)


def _expected_text(template, conversation) -> str:
    rendered = template.render_spans(as_messages(conversation))
    return "".join(rendered.text[r.start : r.turn_end] for r in rendered.replies)


def _squash(s: str) -> str:
    return "".join(s.split())


CASES = [(name, conv) for name in OFFICIAL_TEMPLATES if name != "plain" for conv in (TWO_TURNS, TEXT_ONLY, TWO_IMAGES)]
CASES += [("plain", CAPTION), ("plain", TWO_IMAGES)]


@pytest.mark.parametrize(("name", "conversation"), CASES)
def test_trained_tokens_decode_to_replies_plus_end_of_turn(name, conversation, tokenizer_for):
    tok, template = tokenizer_for(name), get_template(name)
    img = tok.convert_tokens_to_ids("<img>")
    out = tokenize_conversation(conversation, template, tok, tokens_per_image=4, image_token_id=img)
    expected = _expected_text(template, conversation)
    assert _squash(_trained_text(tok, out.input_ids, out.labels)) == _squash(expected)
    assert expected.count(template.end_of_turn) == len(template.render_spans(as_messages(conversation)).replies)
    assert all(lab == IGNORE_INDEX for t, lab in zip(out.input_ids, out.labels) if t == img)
    assert out.input_ids.count(img) == 4 * out.num_images


@pytest.mark.parametrize("name", sorted(OFFICIAL_TEMPLATES))
def test_input_ids_are_the_official_stream_with_markers_expanded(name, tokenizer_for):
    tok, template = tokenizer_for(name), get_template(name)
    img = tok.convert_tokens_to_ids("<img>")
    conv = CAPTION if name == "plain" else TWO_TURNS
    official = tokenize_with_image_markers(template.render(as_messages(conv)), tok).ids
    out = tokenize_conversation(conv, template, tok, tokens_per_image=2, image_token_id=img)
    at = official.index(IMAGE_MARKER_ID)
    assert out.input_ids == official[:at] + [img, img] + official[at + 1 :]


def test_end_of_turn_tokens_are_trained(tokenizer_for):
    expected = {"vicuna_v1": "</s>", "gemma": "<end_of_turn>", "llama_3": "<|eot_id|>", "mistral_instruct": "</s>", "chatml_direct": "<|im_end|>"}
    for name, eot in expected.items():
        tok = tokenizer_for(name)
        out = tokenize_conversation(TWO_TURNS, get_template(name), tok, tokens_per_image=1, image_token_id=0)
        assert out.labels.count(tok.convert_tokens_to_ids(eot)) == 2, name


def test_per_image_token_counts(tokenizer_for):
    tok = tokenizer_for("vicuna_v1")
    img = tok.convert_tokens_to_ids("<img>")
    out = tokenize_conversation(TWO_IMAGES, get_template("vicuna_v1"), tok, tokens_per_image=[3, 5], image_token_id=img)
    assert out.input_ids.count(img) == 8 and out.num_images == 2
    with pytest.raises(ValueError, match="2 images"):
        tokenize_conversation(TWO_IMAGES, get_template("vicuna_v1"), tok, tokens_per_image=[3], image_token_id=img)


CHATML_JINJA = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_tokenizer_chat_template_round_trip(make_tokenizer):
    tok = make_tokenizer("chatml")
    tok.chat_template = CHATML_JINJA
    img = tok.convert_tokens_to_ids("<img>")
    template = get_template("tokenizer", tok)
    out = tokenize_conversation(TWO_TURNS, template, tok, tokens_per_image=2, image_token_id=img)
    assert _trained_text(tok, out.input_ids, out.labels) == "A cat on a mat.<|im_end|>\nIt is red.<|im_end|>\n"


LLAMA3_JINJA = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def test_tokenizer_chat_template_keeps_a_single_bos(make_tokenizer):
    tok = make_tokenizer("llama3")
    tok.chat_template = LLAMA3_JINJA
    img = tok.convert_tokens_to_ids("<img>")
    out = tokenize_conversation(TWO_TURNS, get_template("tokenizer", tok), tok, tokens_per_image=1, image_token_id=img)
    assert out.input_ids.count(tok.bos_token_id) == 1 and out.input_ids[0] == tok.bos_token_id
    assert _trained_text(tok, out.input_ids, out.labels) == "A cat on a mat.<|eot_id|>It is red.<|eot_id|>"


def test_reply_boundary_inside_a_token_is_an_error():
    # A merge ":h" glues the assistant header to the reply "hi": no exact masking exists.
    chars = sorted(set("user:Q|assistant:hi"))
    vocab = {c: i for i, c in enumerate(chars)} | {":h": len(chars)}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab, [(":", "h")])), eos_token="|")
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}:{{ m['content'] }}|{% endfor %}"
    tok.chat_template += "{% if add_generation_prompt %}assistant:{% endif %}"
    conv = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "hi"}]
    with pytest.raises(BadRow, match="straddles") as err:
        tokenize_conversation(conv, get_template("tokenizer", tok), tok, tokens_per_image=1, image_token_id=0)
    assert err.value.reason == "boundary_inside_token"


def test_reply_that_does_not_round_trip_is_an_error(tokenizer_for):
    tok = tokenizer_for("vicuna_v1")  # its alphabet is ASCII: "é" becomes <unk>
    conv = [{"from": "human", "value": "Name?"}, {"from": "gpt", "value": "José"}]
    with pytest.raises(BadRow, match="decode") as err:
        tokenize_conversation(conv, get_template("vicuna_v1"), tok, tokens_per_image=1, image_token_id=0)
    assert err.value.reason == "round_trip"


def test_truncation_moves_the_cut_before_an_image_run(tokenizer_for):
    tok, template = tokenizer_for("gemma"), get_template("gemma")
    img = tok.convert_tokens_to_ids("<img>")
    conv = TWO_TURNS + [{"from": "human", "value": "<image>\nAnd here?"}, {"from": "gpt", "value": "A bus."}]
    full = tokenize_conversation(conv, template, tok, tokens_per_image=10, image_token_id=img)
    second_run = [i for i, t in enumerate(full.input_ids) if t == img][10]
    out = tokenize_conversation(conv, template, tok, tokens_per_image=10, image_token_id=img, max_length=second_run + 4)
    assert len(out.input_ids) == second_run and out.num_images == 1
    assert out.input_ids.count(img) == 10
    assert out.labels == full.labels[:second_run]


def test_truncation_that_leaves_nothing_to_train_is_an_error(tokenizer_for):
    tok = tokenizer_for("vicuna_v1")
    with pytest.raises(BadRow) as err:
        tokenize_conversation(TWO_TURNS, get_template("vicuna_v1"), tok, tokens_per_image=50, image_token_id=0, max_length=40)
    assert err.value.reason == "truncated_away"


@pytest.mark.parametrize("name", ["mistral_instruct", "vicuna_v1"])
def test_a_space_the_tokenizer_splits_off_before_the_reply_is_trained_because_the_model_must_write_it(name):
    from minigemini.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(corpus=["zzq"] * 20)  # "zzq" is one token, " zzq" is " " + "zzq"
    assert tok.tokenize(" zzq") == ["Ġ", "zzq"]
    template = get_template(name)
    question = [{"from": "human", "value": "Name it."}]
    conversation = question + [{"from": "gpt", "value": "zzq"}]
    out = tokenize_conversation(conversation, template, tok, tokens_per_image=1, image_token_id=0)
    # Reference: after the generation prompt, every token is the model's to write, so every one is trained.
    prompt = tokenize_with_image_markers(template.render(as_messages(question)), tok).ids
    assert out.input_ids[: len(prompt)] == prompt
    assert all(lab == IGNORE_INDEX for lab in out.labels[: len(prompt)])
    assert out.labels[len(prompt) :] == out.input_ids[len(prompt) :]
    assert tok.convert_ids_to_tokens(out.input_ids[len(prompt)]) == "Ġ"
