"""`Answerer`: a conversation with images in, text out. Chat, the demo, evaluation, lmms-eval and the
server all answer through it, so they share one stop/EOS policy, one stop detector and the caches."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import torch
from transformers import BatchFeature
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .decoder import TextDecoder
from .features import ImageFeatureCache, image_keys
from .kv_cache import AppendOnlyCache
from .policy import answer_stops, eos_token_ids
from .prefix import PrefixCache
from .rows import CollectingRouter, RowRouter

_END = object()


def user_turn(text: str, image_count: int) -> dict:
    """One user message: its images first (MGM puts `<image>` before the text), then the text."""
    return {"role": "user", "content": [{"type": "image"} for _ in range(image_count)] + [{"type": "text", "text": text}]}


def decode_answer(tokenizer, ids: list[int], eos_ids: set[int], stops: list[str]) -> str:
    """New token ids -> the answer: up to the first EOS id or stop string, through the streaming decoder."""
    decoder, parts = TextDecoder(tokenizer, stops), []
    for token in ids:
        if token in eos_ids:
            break
        parts.append(decoder.add(token))
        if decoder.stopped:
            break
    parts.append(decoder.flush())
    return "".join(parts)


class _QueueRouter(RowRouter):
    """One streamed row: deltas go to a queue read by the caller's thread."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue: queue.Queue = queue.Queue()

    def on_delta(self, row: int, text: str) -> None:
        self.queue.put(text)


class Answerer:
    """Prompts, inputs, generation and decoding for one model and processor.

    `feature_cache` (image features by pixel digest) serves every call; `prefix_cache` (KV prefixes)
    serves `generate_one`, the batch-size-1 path of the chat and the server.
    """

    def __init__(self, model, processor, *, feature_cache: ImageFeatureCache | None = None,
                 prefix_cache: PrefixCache | None = None):
        self.model, self.processor = model, processor
        self.eos_ids = eos_token_ids(model, processor)
        self.feature_cache = feature_cache if feature_cache is not None else ImageFeatureCache()
        self.prefix_cache = prefix_cache if prefix_cache is not None else PrefixCache(
            processor.image_token_id, processor.image_seq_length)

    # ---- inputs ----------------------------------------------------------------------------------
    def prompt(self, messages: list[dict]) -> str:
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def prepare(self, prompts: list[str], images: list[list]) -> dict:
        """Prompts (one image list each) -> processor output on CPU, left-padded."""
        return dict(self.processor(text=prompts, images=images, padding_side="left"))

    def model_inputs(self, inputs: dict, keys: list[str] | None = None, skip_images: int = 0) -> dict:
        """Processor output -> `generate` inputs on the model's device, the images as cached features
        (`mm_encoder_outputs`, in the model's dtype; the towers see pixels in it).

        `skip_images` leaves out the first images, whose placeholders a reused KV prefix already holds.
        """
        pixels, aux = inputs.get("pixel_values"), inputs.get("pixel_values_aux")
        text = BatchFeature({k: v for k, v in inputs.items() if k not in ("pixel_values", "pixel_values_aux")})
        out = dict(text.to(self.model.device))
        if pixels is not None and pixels.shape[0] > skip_images:
            keys = keys if keys is not None else image_keys(self.model, pixels, aux)
            rows = slice(skip_images, None)
            features = self.feature_cache.features(self.model, keys[rows], pixels[rows], None if aux is None else aux[rows])
            out["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=features)}
        return out

    def new_cache(self) -> AppendOnlyCache:
        """An empty KV cache for `generate` (appends in place; beam search keeps transformers' own)."""
        return AppendOnlyCache(self.model.config.get_text_config())

    def stops(self, extra=()) -> list[str]:
        return answer_stops(self.processor, extra)

    # ---- batched answers (eval, demo) ------------------------------------------------------------
    @torch.inference_mode()
    def answer(self, conversations: list[list[dict]], images: list[list], *, max_new_tokens: int,
               do_sample: bool = False, temperature: float | None = None, top_p: float | None = None,
               num_beams: int = 1, seed: int | None = None, stops=()) -> list[str]:
        """One answer per conversation, generated as one left-padded batch."""
        inputs = self.prepare([self.prompt(m) for m in conversations], images)
        stops = self.stops(stops)
        prompt_width = inputs["input_ids"].shape[1]
        kwargs = dict(self.model_inputs(inputs), max_new_tokens=max_new_tokens, do_sample=do_sample, num_beams=num_beams,
                      pad_token_id=self.processor.pad_token_id, eos_token_id=sorted(self.eos_ids))
        if do_sample:
            kwargs.update(temperature=temperature, top_p=top_p)
        if seed is not None:
            torch.manual_seed(seed)
        if num_beams == 1:  # rows stop on their own stop strings while the batch runs
            kwargs["cache"] = self.new_cache()
            router = CollectingRouter(self.processor.tokenizer, [stops] * len(conversations), self.eos_ids,
                                      [max_new_tokens] * len(conversations))
            self.model.generate(**kwargs, stopping_criteria=[router])
            router.finish_all()
            return [text.strip() for text in router.texts]
        output = self.model.generate(**kwargs)
        return [decode_answer(self.processor.tokenizer, row.tolist(), self.eos_ids, stops).strip()
                for row in output[:, prompt_width:]]

    # ---- one streamed answer (chat) with the KV prefix cache -------------------------------------
    def stream(self, messages: list[dict], images: list, *, max_new_tokens: int, temperature: float = 0.0,
               top_p: float | None = None, stops=()) -> Iterator[str]:
        """Answer one conversation, yielding final text pieces as they are generated.

        The conversation's KV prefix (earlier turns, their images) is reused from the prefix cache, so a
        follow-up question prefills only its new tokens; the extended cache is stored back at the end.
        """
        inputs = self.prepare([self.prompt(messages)], [images])
        sampling = temperature > 0
        kwargs = dict(max_new_tokens=max_new_tokens, do_sample=sampling, temperature=temperature if sampling else None,
                      top_p=top_p if sampling else None, pad_token_id=self.processor.pad_token_id,
                      eos_token_id=sorted(self.eos_ids))
        router = _QueueRouter(self.processor.tokenizer, [self.stops(stops)], self.eos_ids, [max_new_tokens])
        error: list[BaseException] = []

        def run():
            try:
                with torch.inference_mode():
                    self.generate_one(inputs, stopping_criteria=[router], **kwargs)
                router.finish_all()
            except BaseException as err:  # re-raised in the caller's thread
                error.append(err)
            router.queue.put(_END)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        while (piece := router.queue.get()) is not _END:
            yield piece
        worker.join()
        if error:
            raise error[0]

    def generate_one(self, inputs: dict, **generate_kwargs) -> torch.Tensor:
        """`generate` for one prompt (processor output, batch 1) from the longest cached KV prefix with the same
        tokens and images; the extended cache is stored back. Returns the output ids [1, T + new]."""
        ids = inputs["input_ids"][0]
        keys = image_keys(self.model, inputs.get("pixel_values"), inputs.get("pixel_values_aux"))
        prefix = self.prefix_cache.take(ids, keys)
        cache = prefix.cache if prefix else self.new_cache()
        model_inputs = self.model_inputs(inputs, keys, prefix.images if prefix else 0)
        output = self.model.generate(**model_inputs, cache=cache, **generate_kwargs)
        self.prefix_cache.put(output[0, : cache.get_seq_length()], keys, cache)
        return output
