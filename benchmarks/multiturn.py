"""Time to first token of a chat's first and second turn about one image, at real size (random weights).

    .venv/bin/python benchmarks/multiturn.py                 # normal and HD, fp32
    .venv/bin/python benchmarks/multiturn.py --configs normal

The model is `inference.py`'s: CLIP ViT-L/14-336 + ConvNeXt-L towers and a SmolLM2-135M-sized Llama, one
640x480 photo. Both turns go through `ChatSession` (the `minigemini chat` path). The second turn reuses the
cached image features and the conversation's KV prefix, so it prefills only its new tokens; the same
second turn is then answered by a fresh session holding the same history (no caches) for comparison.
Time to first token = from the call until the LLM's first forward (the prefill) returns.
"""

from __future__ import annotations

import argparse
import time

import torch
from inference import DTYPES, build, photo  # this folder's real-size builder

from minigemini.chat import ChatSession

FIRST = "Describe the picture in detail."
SECOND = "What colour is the top left corner?"


class FirstForward:
    """Seconds from `start()` until the end of the LLM's first forward after it."""

    def __init__(self, model):
        self.started = self.seconds = None
        model.language_model.register_forward_hook(self._done)

    def _done(self, *_):
        if self.started is not None and self.seconds is None:
            self.seconds = time.perf_counter() - self.started

    def start(self):
        self.started, self.seconds = time.perf_counter(), None


def ttft(session: ChatSession, clock: FirstForward, question: str) -> float:
    clock.start()
    for _ in session.stream(question):
        pass
    return clock.seconds


def run(name: str, dtype: torch.dtype, new_tokens: int) -> dict:
    model, processor = build(name, dtype)
    processor.template = "vicuna_v1"  # inference.py times a raw prompt; a chat needs the template
    clock = FirstForward(model)
    chat = ChatSession(model, processor, max_new_tokens=new_tokens, temperature=0)
    chat.add_image(photo())
    first = ttft(chat, clock, FIRST)
    second = ttft(chat, clock, SECOND)
    fresh = ChatSession(model, processor, max_new_tokens=new_tokens, temperature=0)
    fresh.turns = chat.turns[:1]
    uncached = ttft(fresh, clock, SECOND)
    same = fresh.turns[-1].answer == chat.turns[-1].answer
    return dict(first=first, second=second, uncached=uncached, same=same)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["normal", "hd"], choices=["normal", "hd"])
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| config | turn 1 TTFT | turn 2 TTFT (caches) | turn 2 / turn 1 | turn 2 TTFT without caches | same answer |")
    print("|---|---|---|---|---|---|")
    for name in args.configs:
        r = run(name, DTYPES[args.dtype], args.new_tokens)
        print(f"| {name} ({args.dtype}) | {r['first']:.2f} s | {r['second']:.3f} s | {r['second'] / r['first']:.1%} "
              f"| {r['uncached']:.2f} s | {'yes' if r['same'] else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
