"""Unit behaviour of the streaming pieces: stop strings never leak, per-row sampling is independent."""

from __future__ import annotations

import torch

from minigemini.answering import TextDecoder
from minigemini.serving.sampling import RowSampler, SamplingParams
from minigemini.tiny import build_tiny_tokenizer


def stream(text: str, stops: list[str]) -> tuple[list[str], bool]:
    tok = build_tiny_tokenizer()
    decoder = TextDecoder(tok, stops)
    deltas = []
    for token in tok(text, add_special_tokens=False)["input_ids"]:
        deltas.append(decoder.add(token))
        if decoder.stopped:
            break
    deltas.append(decoder.flush())
    return [d for d in deltas if d], decoder.stopped


def test_deltas_concatenate_to_the_decoded_text():
    deltas, stopped = stream("The assistant gives helpful answers.", [])
    assert "".join(deltas) == "The assistant gives helpful answers." and not stopped


def test_stop_string_is_cut_and_never_streamed_even_partially():
    deltas, stopped = stream("red square USER: next question", ["USER:"])
    assert stopped and "".join(deltas) == "red square "
    assert not any("US" in d for d in deltas)


def test_text_held_back_for_a_possible_stop_is_released_when_it_is_not_one():
    deltas, stopped = stream("USA is big", ["USER:"])
    assert not stopped and "".join(deltas) == "USA is big"


def test_row_sampler_mixes_greedy_and_seeded_rows_in_one_batch():
    torch.manual_seed(0)
    scores = torch.randn(3, 50)
    params = [SamplingParams(temperature=0.0), SamplingParams(temperature=1.0, seed=1), SamplingParams(temperature=1.0, top_p=0.05, seed=2)]
    out = RowSampler(params)(torch.zeros(3, 1, dtype=torch.long), scores)
    chosen = out.argmax(-1)
    assert chosen[0] == scores[0].argmax()
    assert chosen[2] == scores[2].argmax(), "a tiny top_p keeps only the most likely token"
    again = RowSampler(params[1:2])(torch.zeros(1, 1, dtype=torch.long), scores[1:2]).argmax(-1)
    assert again[0] == chosen[1], "a row's seed reproduces its sample whatever the batch around it"
    assert torch.isinf(out).sum(-1).tolist() == [49, 49, 49]
