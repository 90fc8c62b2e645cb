"""Tiny in-test tokenizers shaped like the LLMs the official templates were made for."""

from __future__ import annotations

import string

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from minigemini.templates import OFFICIAL_TEMPLATES

CORPUS = [
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions. USER: What is in the image? ASSISTANT: A cat on a mat.",
    "user model system assistant You are a helpful language and vision assistant. Answer the questions.",
    "[INST] Describe the picture. [/INST] Two dogs play in the park near the river.",
    "How many birds are there? Three birds sit on the wire. What color is the bus? It is red.",
]

# kind -> (special tokens, bos, eos, pad, byte_level, adds_bos)
KINDS = {
    "llama": (["<unk>", "<s>", "</s>", "<img>"], "<s>", "</s>", "<unk>", False, True),
    "gemma": (["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<img>"], "<bos>", "<eos>", "<pad>", False, True),
    "llama3": (
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
         "<|reserved_special_token_0|>", "<img>"],
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", True, True,
    ),
    "chatml": (["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>"], None, "<|endoftext|>", "<unk>", True, False),
}

TEMPLATE_TOKENIZER = {
    "vicuna_v1": "llama",
    "plain": "llama",
    "mistral_instruct": "llama",
    "gemma": "gemma",
    "llama_3": "llama3",
    "chatml_direct": "chatml",
}
assert set(TEMPLATE_TOKENIZER) == set(OFFICIAL_TEMPLATES)


def build_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    specials, bos, eos, pad, byte_level, adds_bos = KINDS[kind]
    if byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
        alphabet = list(string.printable)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    if adds_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    elif byte_level:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    kwargs = {"bos_token": bos} if bos else {}
    unk = "<unk>" if "<unk>" in specials else None
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad, unk_token=unk, **kwargs)


@pytest.fixture(scope="session")
def tokenizers_by_kind() -> dict[str, PreTrainedTokenizerFast]:
    return {kind: build_tokenizer(kind) for kind in KINDS}


@pytest.fixture(scope="session")
def tokenizer_for(tokenizers_by_kind):
    """The tiny tokenizer that fits an official template."""
    return lambda template_name: tokenizers_by_kind[TEMPLATE_TOKENIZER[template_name]]


@pytest.fixture
def make_tokenizer():
    """A fresh tiny tokenizer of a kind, for tests that change it (e.g. set a chat_template)."""
    return build_tokenizer
