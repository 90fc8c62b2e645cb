"""Tiny random-weight models and tokenizers, built in-process: `--model tiny`, the `model.tiny` recipes, the demo.

Nothing here downloads anything: the tokenizer is a byte-level BPE trained on a few sentences.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .configuration import MiniGeminiConfig

_CORPUS = [
    "A chat between a curious user and an artificial intelligence assistant.",
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "USER: What is in the image? ASSISTANT: A red square on a white background.",
    "Which quadrant contains the checkerboard? top left, top right, bottom left, bottom right.",
    "How many striped patches are there? zero one two three four five",
    "Describe the picture in detail. The image shows a small cat sitting next to a window.",
    "Answer the question using a single word or phrase. yes no",
    "Reference OCR Token: Total 42.50 on 2024-03-15",
    "Generate an image of a fire-spitting dragon, cinematic shot, highly detailed.",
] * 4


def build_tiny_tokenizer(vocab_size: int = 384, corpus: list[str] | None = None):
    """A Llama-style fast tokenizer (BOS added, `<s>`/`</s>`/`<unk>`/`<pad>`) trained on a tiny corpus.

    `corpus` adds texts (e.g. a task's answers) so that they become few tokens each.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS + list(corpus or []), trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def tiny_config(
    vocab_size: int,
    *,
    llm: str = "llama",
    hd: bool = False,
    mining: bool = True,
    image_token_id: int | None = None,
    **overrides,
) -> MiniGeminiConfig:
    """A few-hundred-kB MGM: CLIP 28 px / patch 7 (16 tokens per view), ConvNeXt at 64 px (HD: 128 px, 2x2 + global).

    `text_config`, `vision_config` and `aux_vision_config` given as dicts are merged into these defaults;
    other `overrides` replace MiniGeminiConfig fields.
    """
    text = dict(
        model_type=llm,
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        head_dim=8,
    )
    vision = dict(
        model_type="clip_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        image_size=28,
        patch_size=7,
        projection_dim=16,
    )
    aux = dict(model_type="convnext", hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 2, 1], drop_path_rate=0.1)
    for key, default in (("text_config", text), ("vision_config", vision), ("aux_vision_config", aux)):
        if isinstance(overrides.get(key), dict):
            default.update(overrides.pop(key))
    kw = dict(
        text_config=text,
        vision_config=vision,
        aux_vision_config=aux,
        aux_image_size=128 if hd else 64,
        image_grid=2 if hd else 1,
        image_global=hd,
        mining=mining,
        image_token_id=image_token_id,
        tokenizer_model_max_length=1024,
        template="vicuna_v1",
    )
    kw.update(overrides)
    return MiniGeminiConfig(**kw)


def build_tiny_model_and_processor(*, seed: int = 0, tokenizer_corpus: list[str] | None = None,
                                   tokenizer_vocab_size: int = 384, **config_kwargs):
    """A random tiny model with its processor; `config_kwargs` go to `tiny_config`."""
    from .modeling import MiniGeminiForConditionalGeneration
    from .processing import MiniGeminiProcessor, add_image_token

    tokenizer = build_tiny_tokenizer(tokenizer_vocab_size, tokenizer_corpus)
    image_token_id = add_image_token(tokenizer)  # before len(tokenizer): the vocabulary includes <image>
    config = tiny_config(len(tokenizer), image_token_id=image_token_id, **config_kwargs)
    torch.manual_seed(seed)
    model = MiniGeminiForConditionalGeneration(config).eval()
    return model, MiniGeminiProcessor.from_config(tokenizer, config)
