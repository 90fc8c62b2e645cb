"""The OpenAI-compatible API on a tiny random model, called with the official `openai` client."""

from __future__ import annotations

import httpx
import openai
import pytest
from server import data_url, image_message, png_bytes, running_server

from minigemini.serving import ServerSettings

RED = data_url(png_bytes((48, 32), "red"))
BLUE = data_url(png_bytes((20, 60), "blue"))


@pytest.fixture(scope="module")
def server(tiny_checkpoint):
    with running_server(ServerSettings(model=str(tiny_checkpoint), default_max_tokens=16)) as url:
        yield url


@pytest.fixture()
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_served_checkpoint(client):
    assert [m.id for m in client.models.list()] == ["tiny-mgm"]


def test_health_reports_ok_and_batch_statistics(server):
    body = httpx.get(f"{server}/health").json()
    assert body["status"] == "ok" and "batch_size_histogram" in body["batches"]


def test_non_streaming_answer_counts_image_tokens_in_usage(client):
    one = client.chat.completions.create(model="tiny-mgm", messages=image_message("What is here?", RED), max_tokens=8, seed=3)
    text_only = client.chat.completions.create(model="tiny-mgm", messages=[{"role": "user", "content": "What is here?"}], max_tokens=8, seed=3)
    assert one.object == "chat.completion" and one.choices[0].message.role == "assistant"
    assert one.choices[0].finish_reason in ("stop", "length")
    assert 1 <= one.usage.completion_tokens <= 8
    assert one.usage.total_tokens == one.usage.prompt_tokens + one.usage.completion_tokens
    assert one.usage.prompt_tokens_details.image_tokens == 16  # the tiny model's image_seq_length
    assert 16 <= one.usage.prompt_tokens - text_only.usage.prompt_tokens <= 18  # 16 image tokens + the marker line break
    assert one.model_extra["minigemini"]["image_tokens"] == 16


def test_streaming_yields_deltas_that_match_the_seeded_non_streamed_answer(client):
    messages = image_message("Describe both pictures.", RED, BLUE)
    whole = client.chat.completions.create(model="tiny-mgm", messages=messages, max_tokens=12, seed=7, temperature=0.9)
    stream = client.chat.completions.create(
        model="tiny-mgm", messages=messages, max_tokens=12, seed=7, temperature=0.9, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == whole.choices[0].message.content
    assert finishes == [whole.choices[0].finish_reason]
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert chunks[-1].usage.prompt_tokens_details.image_tokens == 32


def test_greedy_is_deterministic_and_seeds_reproduce_samples(client):
    def ask(**kw):
        return client.chat.completions.create(model="tiny-mgm", messages=image_message("Hi", RED), max_tokens=10, **kw).choices[0].message.content

    assert ask(temperature=0) == ask(temperature=0)
    assert ask(temperature=1.0, seed=11) == ask(temperature=1.0, seed=11)


def test_stop_string_ends_the_answer_before_it(client):
    first = client.chat.completions.create(model="tiny-mgm", messages=image_message("Hi", RED), max_tokens=12, temperature=0)
    text = first.choices[0].message.content
    stop = text[3:6]
    assert stop, "the greedy answer is long enough to pick a stop string from"
    cut = client.chat.completions.create(model="tiny-mgm", messages=image_message("Hi", RED), max_tokens=12, temperature=0, stop=[stop])
    assert cut.choices[0].message.content == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_n_greater_than_one_is_refused_with_a_clear_400(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny-mgm", messages=image_message("Hi", RED), n=2)
    assert err.value.body["param"] == "n" and "n=2 is not supported" in err.value.body["message"]


def test_unknown_model_is_a_404_naming_the_served_one(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4o", messages=image_message("Hi", RED))
    assert "tiny-mgm" in err.value.body["message"]


def test_max_tokens_beyond_the_context_is_refused(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny-mgm", messages=image_message("Hi", RED), max_tokens=2000)
    assert err.value.body["code"] == "context_length_exceeded"


def test_stats_endpoint_reports_batches_and_histogram(server, client):
    client.chat.completions.create(model="tiny-mgm", messages=image_message("Hi", RED), max_tokens=2)
    stats = httpx.get(f"{server}/v1/stats").json()
    assert stats["batches"] >= 1 and sum(stats["batch_size_histogram"].values()) == stats["batches"]
