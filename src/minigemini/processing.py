"""`MiniGeminiProcessor`: official tokenization and image preprocessing, with `<image>` expanded into placeholders."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .constants import IMAGE_MARKER_ID, IMAGE_TOKEN
from .image_processing import MiniGeminiImageProcessor
from .tokenization import tokenize_with_image_markers

PROCESSOR_CONFIG = "processor_config.json"


class ContextLengthError(ValueError):
    """A prompt (with its image tokens) does not fit the model's context."""


class MiniGeminiProcessor:
    """Text + images -> `input_ids`, `attention_mask`, `pixel_values`, `pixel_values_aux`.

    Text is tokenized chunk by chunk around each `<image>` marker exactly like the official
    `tokenizer_image_token`; each marker then becomes `image_seq_length` copies of `image_token_id`
    (576 per image, 2880 in HD). Batches are padded on `padding_side` (left by default, for generation).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        image_processor: MiniGeminiImageProcessor,
        image_seq_length: int,
        template: str | None = None,
        model_max_length: int | None = None,
        padding_side: str = "left",
    ):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_seq_length = image_seq_length
        self.template = template
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        if IMAGE_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]}, replace_extra_special_tokens=False)
        self.image_token = IMAGE_TOKEN
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        if self.pad_token_id is None:
            raise ValueError("The tokenizer has no pad, unk or eos token to pad batches with; set tokenizer.pad_token.")

    @classmethod
    def from_config(cls, tokenizer: PreTrainedTokenizerBase, config, **overrides) -> "MiniGeminiProcessor":
        """The processor whose geometry matches a `MiniGeminiConfig` (image size, views, token count, template)."""
        kw = dict(
            image_processor=MiniGeminiImageProcessor.from_config(config),
            image_seq_length=config.image_seq_length,
            template=config.template,
            model_max_length=config.tokenizer_model_max_length,
        )
        kw.update(overrides)
        return cls(tokenizer, **kw)

    @property
    def pad_token_id(self) -> int | None:
        tok = self.tokenizer
        for candidate in (tok.pad_token_id, tok.unk_token_id, tok.eos_token_id):
            if candidate is not None:
                return candidate
        return None

    # ---- text ------------------------------------------------------------------------------------
    def encode_prompt(self, text: str) -> list[int]:
        """One prompt -> ids with each `<image>` expanded to `image_seq_length` placeholder ids."""
        ids: list[int] = []
        for tok in tokenize_with_image_markers(text, self.tokenizer).ids:
            if tok == IMAGE_MARKER_ID:
                ids.extend([self.image_token_id] * self.image_seq_length)
            else:
                ids.append(tok)
        if self.model_max_length is not None and len(ids) > self.model_max_length:
            n_img = text.count(IMAGE_TOKEN)
            raise ContextLengthError(
                f"The prompt is {len(ids)} tokens ({n_img} image(s) x {self.image_seq_length} image tokens + "
                f"{len(ids) - n_img * self.image_seq_length} text tokens), more than the model's context of "
                f"{self.model_max_length}. Shorten the text, send fewer images, or use a non-HD model."
            )
        return ids

    def _group_images(self, texts: list[str], images) -> list[list]:
        counts = [t.count(IMAGE_TOKEN) for t in texts]
        if images is None:
            images = []
        if len(images) and all(isinstance(x, (list, tuple)) for x in images):
            if len(images) != len(texts):
                raise ValueError(f"Got {len(texts)} prompts but {len(images)} image lists; give one list per prompt.")
            groups = [list(x) for x in images]
        else:
            flat, groups = list(images), []
            if len(flat) != sum(counts):
                raise ValueError(
                    f"The prompt(s) have {sum(counts)} '{IMAGE_TOKEN}' marker(s) but {len(flat)} image(s) were given. "
                    f"Put one '{IMAGE_TOKEN}' in the text for each image (apply_chat_template does this for you)."
                )
            for c in counts:
                groups.append(flat[:c])
                flat = flat[c:]
        for i, (c, g) in enumerate(zip(counts, groups)):
            if c != len(g):
                raise ValueError(
                    f"Prompt {i} has {c} '{IMAGE_TOKEN}' marker(s) but {len(g)} image(s). "
                    f"Put one '{IMAGE_TOKEN}' in the text for each image."
                )
        return groups

    def __call__(
        self,
        text: str | list[str],
        images=None,
        return_tensors: str = "pt",
        padding_side: str | None = None,
        **_: object,
    ) -> dict[str, torch.Tensor]:
        """Tokenize prompts (template already applied, with `<image>` markers) and preprocess their images.

        `images` is a flat list consumed in marker order, or one list per prompt.
        """
        if return_tensors != "pt":
            raise ValueError("MiniGeminiProcessor returns torch tensors only (return_tensors='pt').")
        texts = [text] if isinstance(text, str) else list(text)
        groups = self._group_images(texts, images)
        rows = [self.encode_prompt(t) for t in texts]
        side = padding_side or self.padding_side
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            sl = slice(width - len(row), width) if side == "left" else slice(0, len(row))
            input_ids[i, sl] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, sl] = 1
        out = {"input_ids": input_ids, "attention_mask": attention_mask}
        out.update(self.image_processor([img for g in groups for img in g]))
        return out

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True, template: str | None = None) -> str:
        """Messages with {"type": "image"} / {"type": "text"} parts -> the prompt string with `<image>` markers."""
        from .templates import get_template

        name = template or self.template or "tokenizer"
        return get_template(name, self.tokenizer).render(messages, add_generation_prompt=add_generation_prompt)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Strings that end an assistant turn in this processor's template (for `generate(stop_strings=...)`)."""
        from .templates import get_template

        return tuple(get_template(self.template or "tokenizer", self.tokenizer).stop_strings)

    def decode(self, ids, **kwargs) -> str:
        return self.tokenizer.decode(ids, **kwargs)

    def batch_decode(self, ids, **kwargs) -> list[str]:
        return self.tokenizer.batch_decode(ids, **kwargs)

    # ---- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "processor_class": type(self).__name__,
            "image_processor": self.image_processor.to_dict(),
            "image_seq_length": self.image_seq_length,
            "template": self.template,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
        }

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory)
        (directory / PROCESSOR_CONFIG).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path, **overrides) -> "MiniGeminiProcessor":
        """Our folder (with processor_config.json) or an official MGM checkpoint folder."""
        from .official import local_checkpoint, read_official

        local = local_checkpoint(path)
        if local is None:  # a hub id of our own format
            from huggingface_hub import snapshot_download

            local = Path(snapshot_download(str(path), allow_patterns=["*.json", "*.model", "*.txt"]))
        path = local
        cfg_file = path / PROCESSOR_CONFIG
        if not cfg_file.exists():  # official: config, tokenizer and shard headers, never weights
            keep = {k: v for k, v in overrides.items() if k in ("lr_tower", "hr_tower", "template")}
            official = read_official(path, weights=False, **keep)
            return cls.from_config(official.tokenizer, official.config)
        cfg = json.loads(cfg_file.read_text())
        cfg.update(overrides)
        tokenizer = cfg.pop("tokenizer", None) or AutoTokenizer.from_pretrained(path)
        return cls(
            tokenizer=tokenizer,
            image_processor=MiniGeminiImageProcessor.from_dict(cfg["image_processor"]),
            image_seq_length=cfg["image_seq_length"],
            template=cfg.get("template"),
            model_max_length=cfg.get("model_max_length"),
            padding_side=cfg.get("padding_side", "left"),
        )
