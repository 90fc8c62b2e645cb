"""vLLM renderer for the `minigemini` tokenizer mode: our chat templates and the official tokenization.

- Chat requests (`/v1/chat/completions`) are rendered with the checkpoint's template through our processor's
  `apply_chat_template`, exactly the prompt `minigemini chat` and our server build (vLLM's `--chat-template`
  does not apply).
- Text with `<image>` markers is tokenized chunk by chunk like the official `tokenizer_image_token`, not as
  one string (the two differ for SentencePiece tokenizers); each marker becomes one `image_token_id` that the
  multimodal processor then expands to `image_seq_length` placeholders. Text without markers is one chunk,
  which is the tokenizer's plain encoding.
"""

from __future__ import annotations

from vllm.renderers.chat_utils import parse_chat_messages, parse_chat_messages_async
from vllm.renderers.hf import HfRenderer
from vllm.renderers.inputs.preprocess import parse_dec_only_prompt

from ..constants import IMAGE_MARKER_ID, IMAGE_TOKEN
from ..tokenization import tokenize_with_image_markers
from .processing import load_processor


def encode_with_markers(processor, text: str) -> list[int]:
    """Official per-chunk token ids of `text`, with one `processor.image_token_id` per `<image>` marker."""
    ids = tokenize_with_image_markers(text, processor.tokenizer).ids
    return [processor.image_token_id if t == IMAGE_MARKER_ID else t for t in ids]


class MiniGeminiRenderer(HfRenderer):
    @property
    def processor(self):
        return load_processor(self.model_config.model)

    def _chat_prompt(self, conversation, mm_data, mm_uuids, params):
        """Conversation (OpenAI-format parts, images as {"type": "image"}) -> a token prompt with its images."""
        kwargs = params.chat_template_kwargs or {}
        if kwargs.get("continue_final_message"):
            raise ValueError("continue_final_message is not supported by Mini-Gemini's chat templates.")
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=kwargs.get("add_generation_prompt", True))
        prompt = parse_dec_only_prompt(encode_with_markers(self.processor, text))
        if mm_data is not None:
            prompt["multi_modal_data"] = mm_data
        if mm_uuids is not None:
            prompt["multi_modal_uuids"] = mm_uuids
        return conversation, prompt

    def render_messages(self, messages, params):
        parsed = parse_chat_messages(messages, self.model_config, content_format="openai",
                                     media_io_kwargs=params.media_io_kwargs, mm_processor_kwargs=params.mm_processor_kwargs)
        return self._chat_prompt(*parsed, params)

    async def render_messages_async(self, messages, params):
        parsed = await parse_chat_messages_async(messages, self.model_config, content_format="openai",
                                                 media_io_kwargs=params.media_io_kwargs,
                                                 mm_processor_kwargs=params.mm_processor_kwargs)
        return self._chat_prompt(*parsed, params)

    def _tokenize_prompt(self, prompt, params):
        if IMAGE_TOKEN not in prompt["prompt"]:
            return super()._tokenize_prompt(prompt, params)
        return self._build_tokens_prompt(encode_with_markers(self.processor, prompt["prompt"]), prompt)
