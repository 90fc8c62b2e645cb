"""Conversation templates: the official MGM prompt formats, plus the tokenizer's own chat template.

Messages are OpenAI/HF style: `{"role": "system"|"user"|"assistant", "content": str | parts}` where
parts are `{"type": "image"}` and `{"type": "text", "text": ...}`. A user turn with k images is
written `"<image>\\n" * k + text`, as the official CLI does (one marker line per image, in front).
A string content that already holds `<image>` markers is treated like the official training code:
the markers are counted, removed, and put back in front.

`render_spans` also returns where each assistant reply starts and ends in the rendered text, so
label masking can work from character spans instead of the official length arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from .constants import IMAGE_TOKEN


@dataclass(frozen=True)
class Turn:
    """One normalized message: its role, its text without image markers, and its image count."""

    role: str
    text: str
    num_images: int = 0


@dataclass(frozen=True)
class ReplySpan:
    """Character spans of one assistant turn: the reply is [start, end); training covers [start, turn_end).

    `prompt_end` is where the generation prompt stops: text in [prompt_end, start) (e.g. the space of
    "ASSISTANT: " after the "ASSISTANT:" prompt) is the model's to write at inference time.
    """

    start: int
    end: int
    turn_end: int
    prompt_end: int


@dataclass(frozen=True)
class RenderedConversation:
    text: str
    replies: tuple[ReplySpan, ...]


class Template(Protocol):
    name: str
    end_of_turn: str
    stop_strings: tuple[str, ...]

    def render(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> str: ...

    def render_spans(self, messages: Sequence[dict]) -> RenderedConversation: ...


def _content_to_turn(role: str, content: Any) -> Turn:
    if isinstance(content, str):
        n = content.count(IMAGE_TOKEN)
        text = content.replace(IMAGE_TOKEN, "").strip() if n else content
        return Turn(role, text, n)
    if not isinstance(content, (list, tuple)):
        raise ValueError(f"message content must be a string or a list of parts, got {type(content).__name__}")
    texts, n = [], 0
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("image", "image_url"):
            n += 1
        elif kind == "text":
            texts.append(part["text"])
        else:
            raise ValueError(f"unknown content part {part!r}; use {{'type': 'image'}} or {{'type': 'text', 'text': ...}}")
    return Turn(role, "\n".join(texts), n)


def normalize_messages(messages: Sequence[dict]) -> list[Turn]:
    """Check roles (optional system, then user/assistant alternating from user) and count images."""
    turns = [_content_to_turn(m.get("role", ""), m.get("content", "")) for m in messages]
    body = turns[1:] if turns and turns[0].role == "system" else turns
    for i, turn in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn.role != expected:
            got = [t.role for t in turns]
            raise ValueError(f"roles must be [system], user, assistant, user, ... alternating; got {got}")
        if turn.num_images and turn.role != "user":
            raise ValueError("images are only allowed in user turns")
    if turns and turns[0].role == "system" and turns[0].num_images:
        raise ValueError("images are only allowed in user turns")
    return turns


@dataclass(frozen=True)
class ConversationTemplate:
    """An official MGM template, written as the text pieces its `Conversation.get_prompt` produces."""

    name: str
    system: str
    system_format: str | None  # how a non-empty system message is written; None: no system role
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation_prompt: str
    end_of_turn: str
    stop_strings: tuple[str, ...]
    first_user_prefix: str | None = None  # defaults to user_prefix
    system_in_first_user: bool = False  # LLaMA-2 style: the system block opens the first user turn
    image_prefix: str = IMAGE_TOKEN + "\n"
    keep_user_text: bool = True  # plain drops the human text

    def render(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> str:
        """The prompt text; the assistant header is opened when the last message is a user turn."""
        return self._render(normalize_messages(messages), add_generation_prompt).text

    def render_spans(self, messages: Sequence[dict]) -> RenderedConversation:
        """The full conversation text with the span of every assistant reply."""
        return self._render(normalize_messages(messages), add_generation_prompt=False)

    def _system_block(self, turns: list[Turn]) -> str:
        if turns and turns[0].role == "system":
            if self.system_format is None:
                raise ValueError(f"template {self.name!r} has no system role; put instructions in the first user message")
            system = turns[0].text
        else:
            system = self.system
        return self.system_format.format(system) if system and self.system_format else ""

    def _render(self, turns: list[Turn], add_generation_prompt: bool) -> RenderedConversation:
        system = self._system_block(turns)
        body = [t for t in turns if t.role != "system"]
        out = "" if self.system_in_first_user else system
        replies = []
        for i, turn in enumerate(body):
            if turn.role == "user":
                prefix = self.first_user_prefix if i == 0 and self.first_user_prefix is not None else self.user_prefix
                if i == 0 and self.system_in_first_user:
                    prefix += system
                text = turn.text if self.keep_user_text else ""
                out += prefix + self.image_prefix * turn.num_images + text + self.user_suffix
            else:
                opened = len(out)
                out += self.assistant_prefix
                start = len(out)
                out += turn.text
                end = len(out)
                out += self.assistant_suffix
                prompted = self.assistant_prefix.startswith(self.generation_prompt)
                replies.append(ReplySpan(start, end, len(out), opened + len(self.generation_prompt) if prompted else start))
        if add_generation_prompt and body and body[-1].role == "user":
            out += self.generation_prompt
        return RenderedConversation(out, tuple(replies))


_LLAMA3_SYSTEM_HEADER = "<|start_header_id|>system<|end_header_id|>\n\n"

OFFICIAL_TEMPLATES: dict[str, ConversationTemplate] = {
    t.name: t
    for t in (
        ConversationTemplate(
            name="vicuna_v1",
            system="A chat between a curious user and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the user's questions.",
            system_format="{} ",
            user_prefix="USER: ",
            user_suffix=" ",
            assistant_prefix="ASSISTANT: ",
            assistant_suffix="</s>",
            generation_prompt="ASSISTANT:",
            end_of_turn="</s>",
            stop_strings=("</s>",),
        ),
        ConversationTemplate(
            name="gemma",
            system="",
            system_format=None,
            user_prefix="<start_of_turn>user\n",
            user_suffix="<end_of_turn>\n",
            assistant_prefix="<start_of_turn>model\n",
            assistant_suffix="<end_of_turn>\n<eos>",
            generation_prompt="<start_of_turn>model\n",
            end_of_turn="<end_of_turn>",
            stop_strings=("<end_of_turn>", "<eos>"),
        ),
        ConversationTemplate(
            name="llama_3",
            system="You are a helpful language and vision assistant. You are able to understand the visual "
            "content that the user provides, and assist the user with a variety of tasks using natural language.",
            system_format=_LLAMA3_SYSTEM_HEADER + "{}<|eot_id|>",
            user_prefix="<|start_header_id|>user<|end_header_id|>\n\n",
            user_suffix="<|eot_id|>",
            assistant_prefix=_LLAMA3_SYSTEM_HEADER,  # official quirk: the assistant speaks as "system"
            assistant_suffix="<|eot_id|>",
            generation_prompt=_LLAMA3_SYSTEM_HEADER,
            end_of_turn="<|eot_id|>",
            stop_strings=("<|eot_id|>", "<|end_of_text|>"),
        ),
        ConversationTemplate(
            name="mistral_instruct",
            system="",
            system_format="<<SYS>>\n{}\n<</SYS>>\n\n",
            system_in_first_user=True,
            first_user_prefix="[INST] ",
            user_prefix="<s>[INST] ",
            user_suffix=" [/INST]",
            assistant_prefix=" ",
            assistant_suffix=" </s>",
            generation_prompt="",
            end_of_turn="</s>",
            stop_strings=("</s>",),
        ),
        ConversationTemplate(
            name="chatml_direct",
            system="Answer the questions.",
            system_format="<|im_start|>system\n{}<|im_end|>",
            user_prefix="<|im_start|>user\n",
            user_suffix="<|im_end|>",
            assistant_prefix="<|im_start|>assistant\n",
            assistant_suffix="<|im_end|>",
            generation_prompt="<|im_start|>assistant\n",
            end_of_turn="<|im_end|>",
            stop_strings=("<|im_end|>",),
        ),
        ConversationTemplate(
            name="plain",
            system="",
            system_format=None,
            user_prefix="",
            user_suffix="",
            assistant_prefix="",
            assistant_suffix="\n",
            generation_prompt="",
            end_of_turn="\n",
            stop_strings=("\n",),
            image_prefix=IMAGE_TOKEN,
            keep_user_text=False,
        ),
    )
}

TEMPLATE_NAMES: tuple[str, ...] = (*OFFICIAL_TEMPLATES, "tokenizer")


class TokenizerChatTemplate:
    """The tokenizer's own chat template (for LLMs MGM never shipped), with `<image>` lines for image parts.

    Reply spans come from rendering prefixes: the text up to an assistant turn with the generation
    prompt must be a prefix of the text including that turn, or label masking cannot be trusted.
    """

    name = "tokenizer"

    def __init__(self, tokenizer: Any):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("template='tokenizer' needs a tokenizer with a chat_template; pick one of " + ", ".join(OFFICIAL_TEMPLATES))
        self.tokenizer = tokenizer
        ids = tokenizer("a")["input_ids"]
        self._adds_bos = bool(ids) and tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id
        eos = tokenizer.eos_token
        self.end_of_turn = eos or ""
        self.stop_strings = (eos,) if eos else ()

    def _plain_messages(self, turns: list[Turn]) -> list[dict]:
        return [{"role": t.role, "content": (IMAGE_TOKEN + "\n") * t.num_images + t.text} for t in turns]

    def _apply(self, turns: list[Turn], add_generation_prompt: bool) -> str:
        text = self.tokenizer.apply_chat_template(
            self._plain_messages(turns), tokenize=False, add_generation_prompt=add_generation_prompt
        )
        bos = self.tokenizer.bos_token
        # The template writes BOS and so does the tokenizer: keep one, like the official templates do.
        if bos and self._adds_bos and text.startswith(bos):
            text = text[len(bos):]
        return text

    def render(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> str:
        turns = normalize_messages(messages)
        return self._apply(turns, add_generation_prompt and bool(turns) and turns[-1].role == "user")

    def render_spans(self, messages: Sequence[dict]) -> RenderedConversation:
        turns = normalize_messages(messages)
        full = self._apply(turns, add_generation_prompt=False)
        replies = []
        for i, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            before = self._apply(turns[:i], add_generation_prompt=True)
            upto = self._apply(turns[: i + 1], add_generation_prompt=False)
            if not (upto.startswith(before) and full.startswith(upto)):
                raise ValueError("the tokenizer's chat template is not prefix-stable; reply spans cannot be located")
            start = upto.find(turn.text, len(before))
            if start < 0 or upto[len(before):start].strip():
                raise ValueError(f"reply {turn.text[:40]!r} not found after its generation prompt in the chat template output")
            replies.append(ReplySpan(start, start + len(turn.text), len(upto), len(before)))
        return RenderedConversation(full, tuple(replies))


def get_template(name: str, tokenizer: Any = None) -> Template:
    """The template called `name`; `"tokenizer"` wraps `tokenizer.apply_chat_template`."""
    if name == "tokenizer":
        if tokenizer is None:
            raise ValueError("template='tokenizer' needs the tokenizer: get_template('tokenizer', tokenizer)")
        return TokenizerChatTemplate(tokenizer)
    try:
        return OFFICIAL_TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown template {name!r}; valid names: {', '.join(TEMPLATE_NAMES)}") from None


def infer_template(model_type: str, llm_model_type: str, tokenizer: Any = None) -> str:
    """The official template for a checkpoint, from its config and tokenizer vocabulary (never its folder name)."""
    vocab = tokenizer.get_vocab() if tokenizer is not None else {}
    kinds = f"{model_type} {llm_model_type}".lower()
    if "<|eot_id|>" in vocab:
        return "llama_3"
    if "<|im_start|>" in vocab:
        return "chatml_direct"
    if "gemma" in kinds:
        return "gemma"
    if "[INST]" in vocab or "mistral" in kinds or "mixtral" in kinds:
        return "mistral_instruct"
    return "vicuna_v1"
