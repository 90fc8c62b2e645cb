"""vLLM's OpenAI server with the plugin, started from `minigemini serve --engine vllm`'s command line, answers
`/v1/chat/completions` with a base64 image (plain and streamed) exactly like our own server, from the same
prompt tokens as `minigemini chat` builds.

The tiny model is taught one answer, so both servers end on EOS (`finish_reason` "stop") with whole characters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image
from vllm_fixtures import TEXT_32, VLLM_ENV, noise_image

from minigemini import MiniGeminiProcessor
from minigemini.serving import ServerSettings
from minigemini.vllm.launch import running_vllm_server
from tiny_checkpoints import build_tiny_checkpoint, teach_answer

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))
from server import data_url, free_port, running_server  # noqa: E402

MAX_TOKENS = 24
QUESTION = "What is in the image?"
ANSWER = "A red square on a white background."


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return noise_image(tmp_path_factory.mktemp("img") / "a.png", seed=7)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, image):
    root = tmp_path_factory.mktemp("ckpt")
    base = build_tiny_checkpoint(root / "base", seed=2, text_config=TEXT_32)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    return teach_answer(base, root / "tiny-mgm", messages, [Image.open(image).convert("RGB")], ANSWER)


@pytest.fixture(scope="module")
def vllm_url(checkpoint, tmp_path_factory):
    """The server `minigemini serve --engine vllm` would exec (its command line), eager and on a 1024 context."""
    settings = ServerSettings(model=str(checkpoint), dtype="fp32", max_images_per_request=4)
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with log_path.open("w") as log, running_vllm_server(settings, free_port(), ["--enforce-eager", "--max-model-len", "1024"],
                                                       env=VLLM_ENV, log=log, timeout_s=300) as url:
        yield url


def _messages(image_path: Path) -> list[dict]:
    url = data_url(image_path.read_bytes())
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": QUESTION}]}]


def _body(checkpoint, messages, **extra) -> dict:
    return {"model": checkpoint.name, "messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0, **extra}


def _streamed_text(url: str, body: dict) -> str:
    text = ""
    with httpx.stream("POST", url + "/v1/chat/completions", json={**body, "stream": True}, timeout=120) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
    return text


@pytest.fixture(scope="module")
def ours(checkpoint, image):
    with running_server(ServerSettings(model=str(checkpoint))) as url:
        body = _body(checkpoint, _messages(image))
        answer = httpx.post(url + "/v1/chat/completions", json=body, timeout=120).json()
    assert answer["choices"][0]["finish_reason"] == "stop"
    return answer["choices"][0]["message"]["content"]


def test_chat_prompt_is_ours(vllm_url, checkpoint, image):
    body = _body(checkpoint, _messages(image), return_token_ids=True)
    got = httpx.post(vllm_url + "/v1/chat/completions", json=body, timeout=120).json()
    processor = MiniGeminiProcessor.from_pretrained(checkpoint)
    prompt = processor.apply_chat_template([{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": QUESTION}]}])
    expected = processor(text=[prompt], images=[[Image.open(image).convert("RGB")]])["input_ids"][0].tolist()
    assert got["prompt_token_ids"] == expected


def test_plain_answer_equals_our_server(vllm_url, checkpoint, image, ours):
    got = httpx.post(vllm_url + "/v1/chat/completions", json=_body(checkpoint, _messages(image)), timeout=120)
    assert got.status_code == 200
    assert got.json()["choices"][0]["message"]["content"] == ours
    assert got.json()["choices"][0]["finish_reason"] == "stop"


def test_streamed_answer_equals_our_server(vllm_url, checkpoint, image, ours):
    assert _streamed_text(vllm_url, _body(checkpoint, _messages(image))) == ours


def test_remote_images_are_refused_by_default(vllm_url, checkpoint):
    """Our default (no remote images) carries over: vLLM may fetch no http(s) image."""
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/a.png"}},
                                             {"type": "text", "text": "What is in the image?"}]}]
    got = httpx.post(vllm_url + "/v1/chat/completions", json=_body(checkpoint, messages), timeout=60)
    assert 400 <= got.status_code < 500
    assert "allowed domains" in got.text
