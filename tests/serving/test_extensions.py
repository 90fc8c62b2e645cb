"""The "minigemini" extension field: image generation (<GEN> -> <h>prompt</h> -> diffusers PNG) and OCR hints."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont
from server import data_url, image_message, png_bytes, running_server
from tiny_checkpoints import teach_answer

from minigemini.serving import ServerSettings

QUESTION = "Draw this as a cat."
ANSWER = "Here it is. <h>a red cat</h>"
RED = png_bytes((48, 32), "red")


@pytest.fixture(scope="module")
def gen_server(tiny_checkpoint, tmp_path_factory):
    """A tiny MGM taught to answer QUESTION + " <GEN>" with ANSWER, and a tiny random SDXL pipeline."""
    pytest.importorskip("diffusers", reason="pip install 'minigemini[gen]'")
    from tiny_sdxl import build_tiny_sdxl_pipeline

    root = tmp_path_factory.mktemp("gen")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"{QUESTION} <GEN>"}]}]
    taught = teach_answer(tiny_checkpoint, root / "tiny-mgm", messages, [Image.open(io.BytesIO(RED)).convert("RGB")], ANSWER)
    pipeline = build_tiny_sdxl_pipeline(root / "sdxl")
    settings = ServerSettings(model=str(taught), image_pipeline=str(pipeline), image_device="cpu")
    with running_server(settings) as url:
        yield url


def ask(url: str, **extra) -> httpx.Response:
    body = {"model": "tiny-mgm", "messages": image_message(QUESTION, data_url(RED)), "temperature": 0, "max_tokens": 30, "seed": 5, **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)


def test_generate_image_returns_the_rendered_png_and_strips_the_markup(gen_server):
    body = ask(gen_server, minigemini={"generate_image": True}).json()
    assert body["choices"][0]["message"]["content"] == "Here it is."
    generated = body["minigemini"]["generated_image"]
    assert generated["prompt"] == "a red cat" and generated["seed"] == 5
    image = Image.open(io.BytesIO(base64.b64decode(generated["b64_png"])))
    assert image.format == "PNG" and image.size[0] > 0


def test_streamed_generate_image_puts_the_png_on_the_final_chunk(gen_server):
    import json

    events = []
    body = {"model": "tiny-mgm", "messages": image_message(QUESTION, data_url(RED)), "temperature": 0, "max_tokens": 30,
            "stream": True, "minigemini": {"generate_image": True}}
    with httpx.stream("POST", f"{gen_server}/v1/chat/completions", json=body, timeout=120) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    final = events[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["minigemini"]["generated_image"]["prompt"] == "a red cat"
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == ANSWER


def test_without_generate_image_the_model_is_not_asked_for_a_picture(gen_server):
    body = ask(gen_server).json()
    assert "generated_image" not in body["minigemini"]


def test_ocr_adds_the_official_reference_line_for_each_image(tiny_checkpoint):
    pytest.importorskip("rapidocr", reason="pip install 'minigemini[ocr]'")
    sign = Image.new("RGB", (360, 120), "white")
    ImageDraw.Draw(sign).text((20, 30), "HELLO 42", fill="black", font=ImageFont.load_default(size=48))
    buffer = io.BytesIO()
    sign.save(buffer, format="PNG")
    with running_server(ServerSettings(model=str(tiny_checkpoint))) as url:
        body = {"model": "tiny-mgm", "messages": image_message("What does it say?", data_url(buffer.getvalue())),
                "max_tokens": 2, "minigemini": {"ocr": True}}
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120).json()
        plain = httpx.post(f"{url}/v1/chat/completions", json={**body, "minigemini": {}}, timeout=120).json()
    assert response["minigemini"]["ocr"] == ["\nReference OCR Token: HELLO 42\n"]
    assert response["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"], "the hint is part of the prompt"


def test_ignore_eos_runs_past_the_answer_to_max_tokens(gen_server):
    stops = ask(gen_server, max_tokens=40).json()
    runs_on = ask(gen_server, max_tokens=40, minigemini={"ignore_eos": True}).json()
    assert stops["choices"][0]["finish_reason"] == "stop" and stops["usage"]["completion_tokens"] < 40
    assert runs_on["choices"][0]["finish_reason"] == "length" and runs_on["usage"]["completion_tokens"] == 40
