"""The tokenizer of an official folder, with the pad token the official code gives it."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase


def official_tokenizer(path: Path, llm_config) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer with the official pad policy: unk (Llama/Mixtral/Yi), else LLaMA-3's
    reserved token, else eos; Gemma keeps its own pad."""
    tok = AutoTokenizer.from_pretrained(path, config=llm_config)
    if tok.pad_token is None:
        reserved = "<|reserved_special_token_0|>"
        tok.pad_token = tok.unk_token or (reserved if reserved in tok.get_vocab() else tok.eos_token)
    return tok
