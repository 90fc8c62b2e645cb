"""`vllm.LLM(model=DIR)` with the plugin equals minigemini's transformers model: prompt ids, greedy tokens and
first-step log-probs, for our format (normal with a SentencePiece tokenizer, HD) and converted official folders
(Gemma normal, Vicuna HD, Mixtral, Yi); one image, two images, and a text-only prompt in the same batch.

All engines run in one .venv-vllm subprocess (one after another), started once for the module.
"""

from __future__ import annotations

import math

import pytest
from vllm_fixtures import (TEXT_32, chat_prompt, hf_reference, noise_image, run_vllm_worker, write_converted_official,
                           write_sentencepiece_checkpoint)

from minigemini import MiniGeminiProcessor
from minigemini.constants import IMAGE_TOKEN
from tiny_checkpoints import build_tiny_checkpoint

MAX_TOKENS = 8
CHECKPOINTS = ("ours-sentencepiece", "ours-hd", "official-gemma", "official-vicuna-hd", "official-mixtral", "official-yi")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vllm")
    images = [str(noise_image(tmp / f"image{i}.png", seed=i)) for i in range(3)]
    folders = {
        "ours-sentencepiece": write_sentencepiece_checkpoint(tmp / "ours-sp"),
        "ours-hd": build_tiny_checkpoint(tmp / "ours-hd", hd=True, seed=1, text_config=TEXT_32),
    }
    official_gemma, folders["official-gemma"] = write_converted_official(tmp / "gemma", "gemma", hd=False)
    _, folders["official-vicuna-hd"] = write_converted_official(tmp / "vicuna-hd", "vicuna", hd=True)
    _, folders["official-mixtral"] = write_converted_official(tmp / "mixtral", "mixtral", hd=False)
    _, folders["official-yi"] = write_converted_official(tmp / "yi", "yi", hd=False)
    jobs, cases = [], {}
    for name in CHECKPOINTS:
        processor = MiniGeminiProcessor.from_pretrained(folders[name])
        one = chat_prompt(processor, "What is in the image?", 1)
        requests = [
            {"prompt": one, "images": images[:1]},
            {"prompt": chat_prompt(processor, "Compare the two pictures.", 2), "images": images[1:3]},
            {"prompt": chat_prompt(processor, "Describe a cat.", 0), "images": []},
            {"prompt": one, "images": images[1:2]},  # the same question about another image
        ]
        cases[name] = (folders[name], processor, hf_reference(folders[name], requests, MAX_TOKENS))
        jobs.append({"path": str(folders[name]), "requests": requests})
    jobs.append({"path": str(official_gemma), "requests": [], "expect_error": True})
    out = run_vllm_worker({"max_tokens": MAX_TOKENS, "models": jobs}, tmp)
    got = {name: out[i]["results"] for i, name in enumerate(CHECKPOINTS)}
    return {"cases": cases, "vllm": got, "official_error": out[-1]["error"]}


CASES = ("one image", "two images", "text only", "other image")


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_prompt_tokens_equal_ours(runs, name):
    refs = runs["cases"][name][2]
    for case, ref, got in zip(CASES, refs, runs["vllm"][name]):
        assert got["prompt_token_ids"] == ref["prompt_token_ids"], case


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_greedy_tokens_equal_ours(runs, name):
    refs = runs["cases"][name][2]
    for case, ref, got in zip(CASES, refs, runs["vllm"][name]):
        assert got["token_ids"] == ref["token_ids"], case


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_first_step_logprobs_within_1e_4(runs, name):
    refs = runs["cases"][name][2]
    for case, ref, got in zip(CASES, refs, runs["vllm"][name]):
        assert len(got["first_logprobs"]) >= 5, case
        for token, logprob in got["first_logprobs"].items():
            assert abs(logprob - ref["first_logprobs"][int(token)].item()) < 1e-4, (case, token)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_another_image_changes_the_logprobs(runs, name):
    one, other = runs["vllm"][name][0]["first_logprobs"], runs["vllm"][name][3]["first_logprobs"]
    ref_other = runs["cases"][name][2][3]["first_logprobs"]
    # the same prompt with another image: the top log-probs move (and ours move the same way)
    moved = max(abs(lp - ref_other[int(t)].item()) for t, lp in one.items())
    assert moved > 1e-3
    assert max(abs(lp - ref_other[int(t)].item()) for t, lp in other.items()) < 1e-4


def test_sentencepiece_per_chunk_tokenization_is_what_vllm_used(runs):
    """The premise: for this tokenizer, tokenizing the whole prompt differs from the official per-chunk ids."""
    _, processor, refs = runs["cases"]["ours-sentencepiece"]
    prompt = chat_prompt(processor, "What is in the image?", 1)
    whole = processor.tokenizer(prompt)["input_ids"]
    expanded = []
    for t in whole:
        expanded.extend([t] * processor.image_seq_length if t == processor.image_token_id else [t])
    assert IMAGE_TOKEN in prompt and expanded != refs[0]["prompt_token_ids"]
    assert runs["vllm"]["ours-sentencepiece"][0]["prompt_token_ids"] == refs[0]["prompt_token_ids"]


def test_gemma_image_features_carry_the_embedding_scale(runs):
    """The premise of the Gemma equality: its embedding scale is far from 1, so unscaled image features would
    change the log-probs by much more than 1e-4."""
    from minigemini import MiniGeminiForConditionalGeneration

    folder = runs["cases"]["official-gemma"][0]
    model = MiniGeminiForConditionalGeneration.from_pretrained(folder)
    assert model.config.text_config.model_type == "gemma"
    assert math.isclose(float(model.get_input_embeddings().embed_scale), 8.0)


def test_official_folder_is_refused_with_one_line(runs):
    message = runs["official_error"].splitlines()
    assert any("minigemini convert" in line and "official MGM checkpoint" in line for line in message)
