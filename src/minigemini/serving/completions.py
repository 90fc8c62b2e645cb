"""`/v1/chat/completions`: validate a request, turn it into a queued job, and shape what comes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator

from starlette.concurrency import run_in_threadpool

from ..processing import ContextLengthError
from .engine import Engine
from .errors import APIError, error_body
from .extensions import ImageGenerator, ocr_line
from .images import ImageResolver
from .jobs import Delta, Failed, Finished, Job
from .responses import ResponseMeta, chunk, completion, sse, usage
from .sampling import SamplingParams
from .schemas import ChatCompletionRequest, ImagePart, Message, TextPart
from .settings import ServerSettings


@dataclass
class Prepared:
    """A validated request: its job plus what the response needs to report."""

    request: ChatCompletionRequest
    job: Job
    image_tokens: int
    ocr: list[str]


def _to_template_messages(request: ChatCompletionRequest) -> tuple[list[dict], list[tuple[str, str]]]:
    """OpenAI messages -> template messages with `{"type": "image"}` parts, and (url, param) per image in prompt order."""
    messages, urls = [], []
    for i, message in enumerate(request.messages):
        content = message.content or ""
        if isinstance(content, str):
            messages.append({"role": message.role, "content": content})
            continue
        parts = []
        for j, part in enumerate(content):
            if isinstance(part, ImagePart):
                parts.append({"type": "image"})
                urls.append((part.image_url.url, f"messages.{i}.content.{j}.image_url.url"))
            else:
                parts.append({"type": "text", "text": part.text})
        messages.append({"role": message.role, "content": parts})
    return messages, urls


def _text_length(message: Message) -> int:
    """Characters of text in one message (its string content or its text parts)."""
    if isinstance(message.content, str):
        return len(message.content)
    return sum(len(part.text) for part in message.content or [] if isinstance(part, TextPart))


def _append_to_last_user(messages: list[dict], text_fn) -> None:
    last = next(m for m in reversed(messages) if m["role"] == "user")
    content = last["content"]
    if isinstance(content, str):
        last["content"] = text_fn(content)
        return
    texts = [p for p in content if p["type"] == "text"]
    if texts:
        texts[-1]["text"] = text_fn(texts[-1]["text"])
    else:
        content.append({"type": "text", "text": text_fn("")})


class ChatService:
    """Validates requests against the server's limits and runs them through the engine."""

    def __init__(self, settings: ServerSettings, model, processor, engine: Engine):
        self.settings, self.processor, self.engine = settings, processor, engine
        self.images = ImageResolver(settings, processor.image_processor)
        self.generator = ImageGenerator(settings.image_pipeline, settings.image_device)
        limits = [processor.model_max_length, getattr(model.config.text_config, "max_position_embeddings", None)]
        self.context_length = min(x for x in limits if x)
        self.prompt_token_limit = min(self.context_length, settings.max_prompt_tokens or self.context_length)
        self.chars_per_token = max(len(token) for token in processor.tokenizer.get_vocab())
        self.max_prompt_chars = self.prompt_token_limit * self.chars_per_token

    # ---- validation ---------------------------------------------------------------------------------
    async def prepare(self, request: ChatCompletionRequest) -> Prepared:
        s = self.settings
        if request.n != 1:
            raise APIError(400, f"n={request.n} is not supported; this server returns one choice per request (n=1). Send n separate requests.", "unsupported_parameter", "n")
        if (feature := request.unsupported()) is not None:
            raise APIError(400, f"'{feature}' is not supported by this server; remove it from the request.", "unsupported_parameter", feature)
        if request.model != s.served_name:
            raise APIError(404, f"The model '{request.model}' does not exist on this server; it serves '{s.served_name}' (see GET /v1/models).", "model_not_found", "model")
        if request.messages[-1].role != "user":
            raise APIError(400, "The last message must be a user message.", "invalid_value", "messages")
        if len(request.messages) > self.prompt_token_limit:  # every template spends at least a token per message
            raise APIError(400, f"The conversation has {len(request.messages):,} messages; each takes at least one token of the {self.prompt_token_limit}-token prompt limit.", "context_length_exceeded", "messages")
        self._check_chars(sum(map(_text_length, request.messages)), "The messages hold")
        options = request.minigemini
        if options.generate_image:
            self.generator.check_available()
        messages, urls = _to_template_messages(request)
        if len(urls) > s.max_images_per_request:
            raise APIError(400, f"The request has {len(urls)} images; this server accepts at most {s.max_images_per_request} per request.", "too_many_images", "messages")
        images = [await run_in_threadpool(self.images.load, url, param) for url, param in urls]
        ocr = []
        if options.ocr and images:
            last_user_images = self._last_user_image_count(messages)
            ocr = [await run_in_threadpool(ocr_line, img) for img in images[len(images) - last_user_images :]]
            hints = "".join(ocr)  # each line is the official "\nReference OCR Token: ...\n"
            _append_to_last_user(messages, lambda text: text + hints)
        if options.generate_image:
            _append_to_last_user(messages, self.generator.add_trigger)
        try:
            prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        except ValueError as err:
            raise APIError(400, f"Invalid messages: {err}", "invalid_value", "messages") from None
        self._check_chars(len(prompt), "With its template the conversation is")  # many short messages add up
        inputs, overflow = await run_in_threadpool(self._tokenize, prompt, images)
        if overflow is not None:  # raised here, outside the except block, so no traceback keeps the token lists alive
            raise APIError(400, overflow, "context_length_exceeded", "messages")
        prompt_tokens = int(inputs["input_ids"].shape[1])
        if s.max_prompt_tokens is not None and prompt_tokens > s.max_prompt_tokens:
            raise APIError(400, f"The prompt is {prompt_tokens} tokens (images included); this server accepts at most {s.max_prompt_tokens}. Shorten the conversation or send fewer images.", "prompt_too_long", "messages")
        max_tokens = self._max_tokens(request, prompt_tokens)
        sampling = SamplingParams(
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            seed=request.seed,
        )
        job = Job(inputs, max_tokens=max_tokens, sampling=sampling, stops=request.stop_strings(), ignore_eos=options.ignore_eos)
        return Prepared(request, job, image_tokens=len(images) * self.processor.image_seq_length, ocr=ocr)

    def _check_chars(self, chars: int, what: str) -> None:
        """Refuse text that cannot fit before tokenizing it: no token of this vocabulary covers more than
        `chars_per_token` characters, so longer text is more tokens than the prompt may hold."""
        if chars > self.max_prompt_chars:
            raise APIError(
                400,
                f"{what} {chars:,} characters of text, more than the {self.prompt_token_limit}-token prompt limit can "
                f"hold ({self.max_prompt_chars:,} characters at most). Shorten the conversation.",
                "context_length_exceeded",
                "messages",
            )

    def _tokenize(self, prompt: str, images: list) -> tuple[dict | None, str | None]:
        """Blocking: (processor inputs, None), or (None, the context-overflow message)."""
        try:
            return self.processor(text=[prompt], images=[images]), None
        except ContextLengthError as err:
            return None, str(err)

    @staticmethod
    def _last_user_image_count(messages: list[dict]) -> int:
        last = next(m for m in reversed(messages) if m["role"] == "user")
        return sum(1 for p in last["content"] if p["type"] == "image") if isinstance(last["content"], list) else 0

    def _max_tokens(self, request: ChatCompletionRequest, prompt_tokens: int) -> int:
        s = self.settings
        room = self.context_length - prompt_tokens
        if room < 1:
            raise APIError(400, f"The prompt is {prompt_tokens} tokens, which leaves no room in the {self.context_length}-token context. Shorten it or send fewer images.", "context_length_exceeded", "messages")
        asked = request.max_completion_tokens or request.max_tokens
        if asked is None:
            return min(s.default_max_tokens, s.max_tokens_limit, room)
        param = "max_completion_tokens" if request.max_completion_tokens else "max_tokens"
        if asked > s.max_tokens_limit:
            raise APIError(400, f"{param}={asked} exceeds this server's limit of {s.max_tokens_limit}.", "invalid_value", param)
        if asked > room:
            raise APIError(400, f"The prompt is {prompt_tokens} tokens (images included) and {param}={asked}; together they exceed the {self.context_length}-token context. Lower {param} to at most {room}.", "context_length_exceeded", param)
        return asked

    # ---- running ------------------------------------------------------------------------------------
    def submit(self, prepared: Prepared) -> None:
        """Queue the job (429/503 before any response byte is sent)."""
        self.engine.submit(prepared.job)

    async def complete(self, prepared: Prepared) -> dict:
        """Non-streaming: wait for the whole answer of a submitted job."""
        job = prepared.job
        parts, final = [], None
        try:
            async for event in job.events():
                if isinstance(event, Delta):
                    parts.append(event.text)
                elif isinstance(event, Failed):
                    raise APIError(503, event.message, "generation_failed")
                else:
                    final = event
        finally:
            job.cancel()
        text, extension = await self.finish_extension(prepared, "".join(parts))
        meta = ResponseMeta(self.settings.served_name)
        return completion(meta, text, final.reason, self._usage(prepared, final), extension)

    async def stream(self, prepared: Prepared) -> AsyncIterator[str]:
        """Streaming a submitted job: SSE chunks, a final chunk with finish_reason and the extension, usage if asked, [DONE]."""
        job, request = prepared.job, prepared.request
        meta = ResponseMeta(self.settings.served_name)
        parts: list[str] = []
        try:
            yield sse(chunk(meta, {"role": "assistant", "content": ""}))
            async for event in job.events():
                if isinstance(event, Delta):
                    parts.append(event.text)
                    yield sse(chunk(meta, {"content": event.text}))
                elif isinstance(event, Failed):
                    yield sse(error_body(503, event.message, "generation_failed"))
                    break
                else:
                    _, extension = await self.finish_extension(prepared, "".join(parts))
                    yield sse(chunk(meta, {}, event.reason, minigemini=extension))
                    if request.stream_options and request.stream_options.include_usage:
                        yield sse(chunk(meta, None, usage=self._usage(prepared, event)))
            yield sse("[DONE]")
        finally:
            job.cancel()

    def _usage(self, prepared: Prepared, final: Finished) -> dict:
        return usage(prepared.job.prompt_tokens, final.completion_tokens, prepared.image_tokens)

    async def finish_extension(self, prepared: Prepared, answer: str) -> tuple[str, dict]:
        """The visible answer and the response's `minigemini` object (OCR lines, rendered image)."""
        extension: dict = {"image_tokens": prepared.image_tokens}
        if prepared.ocr:
            extension["ocr"] = prepared.ocr
        if not prepared.request.minigemini.generate_image:
            return answer, extension
        text, generated = await run_in_threadpool(self.generator.respond, answer, prepared.request.seed)
        extension["generated_image"] = generated
        return text, extension
