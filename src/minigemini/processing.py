"""`MiniGeminiProcessor`: official tokenization and image preprocessing, with `<image>` expanded into placeholders."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, BatchFeature, PreTrainedTokenizerBase, ProcessorMixin
from transformers.utils import PROCESSOR_NAME

from .constants import IMAGE_MARKER_ID, IMAGE_TOKEN
from .image_processing import MiniGeminiImageProcessor
from .padding import pad_rows
from .tokenization import tokenize_with_image_markers


def add_image_token(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of `<image>`, added to the tokenizer as a special token when missing (before a config needs it)."""
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]}, replace_extra_special_tokens=False)
    return tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


class ContextLengthError(ValueError):
    """A prompt (with its image tokens) does not fit the model's context."""


class MiniGeminiProcessor(ProcessorMixin):
    """Text + images -> a `BatchFeature` of `input_ids`, `attention_mask`, `pixel_values`, `pixel_values_aux`.

    Text is tokenized chunk by chunk around each `<image>` marker exactly like the official
    `tokenizer_image_token`; each marker then becomes `image_seq_length` copies of `image_token_id`
    (576 per image, 2880 in HD). Batches are padded on `padding_side` (left by default, for generation).
    `processor(...).to(device, dtype)` moves every tensor and casts only the floating ones (the pixels).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        image_processor: MiniGeminiImageProcessor,
        image_seq_length: int,
        template: str | None = None,
        model_max_length: int | None = None,
        padding_side: str = "left",
        chat_template: str | None = None,
    ):
        super().__init__(tokenizer, image_processor, chat_template=chat_template)
        self.image_seq_length = image_seq_length
        self.template = template
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.image_token = IMAGE_TOKEN
        self.image_token_id = add_image_token(tokenizer)
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
        text: str | list[str] | None = None,
        images=None,
        return_tensors: str | None = "pt",
        padding_side: str | None = None,
        **_: object,
    ) -> BatchFeature:
        """Tokenize prompts (template already applied, with `<image>` markers) and preprocess their images.

        `images` is one image, a flat list consumed in marker order, or one list per prompt. Returns
        input_ids/attention_mask [B, T] (int64) and, with images, pixel_values [I, V, 3, s, s] and
        pixel_values_aux [I, 3, H, H] (float32). Padding is always to the longest prompt.
        """
        if return_tensors not in ("pt", None):
            raise ValueError("MiniGeminiProcessor returns torch tensors only (return_tensors='pt').")
        if text is None:
            raise ValueError("MiniGeminiProcessor needs text: one '<image>' marker per image (apply_chat_template adds them).")
        texts = [text] if isinstance(text, str) else list(text)
        if images is not None and not isinstance(images, (list, tuple)):
            images = [images]
        groups = self._group_images(texts, images)
        rows = [self.encode_prompt(t) for t in texts]
        input_ids, attention_mask = pad_rows(rows, self.pad_token_id, padding_side or self.padding_side)
        out = {"input_ids": input_ids, "attention_mask": attention_mask}
        out.update(self.image_processor([img for g in groups for img in g]))
        return BatchFeature(out)

    def apply_chat_template(
        self,
        messages: list[dict],
        add_generation_prompt: bool = True,
        template: str | None = None,
        *,
        tokenize: bool = False,
        return_dict: bool = True,
        continue_final_message: bool = False,
        processor_kwargs: dict | None = None,
        **kwargs,
    ) -> str | BatchFeature:
        """Messages with {"type": "image"} / {"type": "text"} parts -> the prompt string with `<image>` markers.

        With `tokenize=True` (as `pipeline("image-text-to-text")` calls it) the images named by the parts
        (`"image"`, `"path"`, `"url"` or `"image_url"`) are loaded and the processor's `BatchFeature` is returned.
        """
        from .templates import get_template

        if continue_final_message:
            raise ValueError("MiniGeminiProcessor cannot continue a final assistant message; end the chat with a user turn.")
        name = template or self.template or "tokenizer"
        prompt = get_template(name, self.tokenizer).render(messages, add_generation_prompt=add_generation_prompt)
        if not tokenize:
            return prompt
        out = self(text=prompt, images=chat_images(messages), **(processor_kwargs or {}))
        return out if return_dict else out["input_ids"]

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Strings that end an assistant turn in this processor's template (for `generate(stop_strings=...)`)."""
        from .templates import get_template

        return tuple(get_template(self.template or "tokenizer", self.tokenizer).stop_strings)

    # ---- persistence -----------------------------------------------------------------------------
    # save_pretrained is ProcessorMixin's: the tokenizer files plus processor_config.json holding
    # image_processor, image_seq_length, template, model_max_length and padding_side.

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> "MiniGeminiProcessor":
        """Our folder or hub id (processor_config.json), or an official MGM checkpoint folder."""
        from .official import local_checkpoint, read_official

        local = local_checkpoint(pretrained_model_name_or_path)
        if local is None:  # a hub id of our own format
            from huggingface_hub import snapshot_download

            local = Path(snapshot_download(str(pretrained_model_name_or_path), allow_patterns=["*.json", "*.model", "*.txt"]))
        if not (local / PROCESSOR_NAME).exists():  # official: config, tokenizer and shard headers, never weights
            keep = {k: v for k, v in kwargs.items() if k in ("lr_tower", "hr_tower", "template")}
            official = read_official(local, weights=False, **keep)
            return cls.from_config(official.tokenizer, official.config)
        return super().from_pretrained(local, **kwargs)

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        """The tokenizer from the folder; the image processor from processor_config.json (also folders saved
        before it carried `image_processor_type`)."""
        hub = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **{k: kwargs[k] for k in hub if k in kwargs})
        return [tokenizer, MiniGeminiImageProcessor.from_dict(processor_dict["image_processor"])]


def chat_images(messages: list[dict]) -> list:
    """The images that a chat's image parts carry, in order (PIL images, arrays, paths, URLs or data URIs)."""
    from transformers.image_utils import load_image

    found = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, (list, tuple)) else ():
            if not isinstance(part, dict) or part.get("type") not in ("image", "image_url"):
                continue
            source = part.get("image", part.get("path", part.get("url")))
            if source is None and isinstance(part.get("image_url"), dict):
                source = part["image_url"].get("url")
            if source is None:
                raise ValueError(f"Image part {part!r} carries no image; give it an 'image', 'path' or 'url'.")
            is_remote = isinstance(source, str) and source.startswith(("http://", "https://", "data:"))
            found.append(load_image(source) if is_remote else source)
    return found
