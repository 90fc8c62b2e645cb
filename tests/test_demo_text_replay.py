"""`demo/text_replay.py`: the untuned LLM's own answers to text questions, cached, as text-only LLaVA rows that
the training data loader reads; held-out questions compared against the untuned model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from minigemini.data.llava import SkipReport, read_rows
from minigemini.demo import text_replay
from minigemini.demo.text_replay import HELD_OUT_QUESTIONS, REPLAY_QUESTIONS, base_answers, write_text_replay
from minigemini.pretrained_llm import pretrained_llm_folder


@pytest.fixture(scope="module")
def smollm2():
    return pretrained_llm_folder("smollm2")


def test_replay_and_held_out_questions_never_overlap():
    assert not set(REPLAY_QUESTIONS) & set(HELD_OUT_QUESTIONS)
    assert len(set(REPLAY_QUESTIONS)) == len(REPLAY_QUESTIONS) >= 48


@pytest.mark.parametrize(("text", "kept"), [
    ("One. Two three", "One."),
    ("Is it? Yes! And then", "Is it? Yes!"),
    ("version 1.5 is out. More", "version 1.5 is out."),
    ("no sentence end at all", "no sentence end at all"),
])
def test_a_cut_off_answer_keeps_its_whole_sentences(text, kept):
    assert text_replay._whole_sentences(text) == kept


def test_base_answers_are_the_untuned_models_greedy_answers_and_are_cached(smollm2, tmp_path, monkeypatch):
    questions = ("What is the capital of France?", "Why is the sky blue?")
    answers = base_answers(smollm2, questions, max_new_tokens=12, cache=tmp_path)

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32).eval()
    for question, (answer, finished) in zip(questions, answers):  # one by one, unpadded: the plain reference
        ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        new = model.generate(ids, max_new_tokens=12, do_sample=False)[0, ids.shape[1]:]
        assert answer == tokenizer.decode(new, skip_special_tokens=True).strip()
        assert finished == (tokenizer.eos_token_id in new.tolist())
    assert answers[0][0].startswith("The capital of France is Paris")

    def no_model(*args, **kwargs):
        raise AssertionError("the cached answers should have been reused")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_model)
    assert base_answers(smollm2, questions, max_new_tokens=12, cache=tmp_path) == answers
    assert len(list((tmp_path / "text_replay").iterdir())) == 1  # no temporary files left behind


def test_replay_rows_are_text_only_rows_the_training_loader_reads(smollm2, tmp_path):
    out = write_text_replay(smollm2, tmp_path / "data" / "text_replay.json", 3, cache=tmp_path / "cache")
    report = SkipReport()
    rows = read_rows(out, tmp_path, report, strict=True)
    assert len(rows) == 3 and not any(row.images for row in rows)
    assert [row.conversations[0]["value"] for row in rows] == list(REPLAY_QUESTIONS[:3])
    cached = json.loads(next((tmp_path / "cache" / "text_replay").iterdir()).read_text())
    for row, answer, finished in zip(rows, cached["answers"], cached["finished"]):
        reply = row.conversations[1]["value"]
        assert reply == answer if finished else answer.startswith(reply) and reply[-1] in ".!?"
