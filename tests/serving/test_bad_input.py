"""Every limit and every kind of bad input gets an OpenAI-shaped 4xx, and the server keeps serving."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest
from server import data_url, image_message, png_bytes, running_server

from minigemini.serving import ServerSettings

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def server(tiny_checkpoint):
    settings = ServerSettings(
        model=str(tiny_checkpoint), api_key=KEY, default_max_tokens=4, max_body_bytes=200_000,
        max_image_bytes=50_000, max_image_pixels=100_000, max_images_per_request=2, max_prompt_tokens=300,
    )
    with running_server(settings) as url:
        yield url


def post(server: str, body, key: str | None = KEY, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if not isinstance(body, dict):
        return httpx.post(f"{server}/v1/chat/completions", content=body, headers={**headers, "Content-Type": "application/json"}, timeout=60, **kw)
    return httpx.post(f"{server}/v1/chat/completions", json=body, headers=headers, timeout=60, **kw)


def chat(*urls: str, question: str = "What is here?", **extra) -> dict:
    return {"model": "tiny-mgm", "messages": image_message(question, *urls), "max_tokens": 2, **extra}


def bomb_png(width: int, height: int) -> bytes:
    """A real PNG whose header claims width x height (the IDAT holds one tiny row; never decoded)."""
    def block(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + block(b"IHDR", header) + block(b"IDAT", zlib.compress(b"\x00" * 4)) + block(b"IEND", b"")


def assert_error(response: httpx.Response, status: int, code: str | None, *words: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    for word in words:
        assert word in error["message"]
    return error


def test_missing_api_key_is_401(server):
    assert_error(post(server, chat(data_url(png_bytes())), key=None), 401, "missing_api_key", "Authorization: Bearer")


def test_wrong_api_key_is_401(server):
    assert_error(post(server, chat(data_url(png_bytes())), key="guess"), 401, "invalid_api_key", "Incorrect API key")


def test_models_needs_the_key_but_health_does_not(server):
    assert httpx.get(f"{server}/v1/models").status_code == 401
    assert httpx.get(f"{server}/health").status_code == 200


def test_malformed_json_is_400(server):
    assert_error(post(server, b'{"model": "tiny-mgm", "messages": [}'), 400, "invalid_json", "not valid JSON")


def test_schema_violation_names_the_parameter(server):
    error = assert_error(post(server, {"model": "tiny-mgm", "messages": [{"role": "wizard", "content": "hi"}]}), 400, "invalid_value")
    assert error["param"].startswith("messages.0.role")


def test_corrupt_image_is_400(server):
    corrupt = data_url(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    error = assert_error(post(server, chat(corrupt)), 400, "invalid_image", "not a readable image")
    assert error["param"] == "messages.0.content.0.image_url.url"


def test_invalid_base64_is_400(server):
    assert_error(post(server, chat("data:image/png;base64,@@@not-base64@@@")), 400, "invalid_image_url", "not valid base64")


def test_decompression_bomb_header_is_refused_before_decoding(server):
    assert_error(post(server, chat(data_url(bomb_png(100_000, 100_000)))), 400, "image_too_large", "pixels")
    assert_error(post(server, chat(data_url(bomb_png(1_000, 1_000)))), 400, "image_too_large", "1,000,000 pixels", "decompression-bomb")


def test_valid_image_over_the_pixel_limit_is_refused(server):
    assert_error(post(server, chat(data_url(png_bytes((400, 300))))), 400, "image_too_large", "120,000 pixels")


def test_image_over_the_byte_limit_is_413(server):
    import os

    noisy = data_url(os.urandom(60_000))
    assert_error(post(server, chat(noisy)), 413, "image_too_large", "50,000 bytes")


def test_oversized_body_is_413(server):
    body = chat(data_url(png_bytes()), question="x" * 300_000)
    assert_error(post(server, body), 413, "request_too_large", "200,000 bytes")


def test_local_file_paths_are_never_read(server):
    for url in ("/etc/passwd", "file:///etc/passwd", "../secret.png"):
        assert_error(post(server, chat(url)), 400, "invalid_image_url", "local file paths are never read")


def test_remote_urls_are_off_by_default(server):
    assert_error(post(server, chat("http://127.0.0.1:1/cat.png")), 400, "image_url_forbidden", "--allow-remote-images")


def test_too_many_images_is_400(server):
    url = data_url(png_bytes())
    assert_error(post(server, chat(url, url, url)), 400, "too_many_images", "at most 2")


def test_prompt_over_the_token_limit_is_400(server):
    assert_error(post(server, chat(question="describe " * 200)), 400, "prompt_too_long", "at most 300")


def test_wrong_role_order_is_400(server):
    body = {"model": "tiny-mgm", "messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "hi"}]}
    assert_error(post(server, body), 400, "invalid_value", "roles must be")


def test_unknown_extension_option_is_400(server):
    body = chat(data_url(png_bytes()), minigemini={"teleport": True})
    assert_error(post(server, body), 400, "invalid_value")


def test_image_generation_without_a_pipeline_says_how_to_enable_it(server):
    body = chat(data_url(png_bytes()), minigemini={"generate_image": True})
    assert_error(post(server, body), 400, "image_generation_unavailable", "--image-pipeline")


def test_server_still_answers_after_all_the_bad_requests(server):
    response = post(server, chat(data_url(png_bytes())))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["role"] == "assistant"


def test_oversized_streamed_body_without_content_length_is_413(server):
    def chunks():
        for _ in range(30):
            yield b"x" * 10_000

    assert_error(post(server, chunks()), 413, "request_too_large", "200,000 bytes")


def test_unimplemented_openai_features_are_refused_not_silently_dropped(server):
    url = data_url(png_bytes())
    for extra, param in (({"logprobs": True}, "logprobs"), ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
                         ({"response_format": {"type": "json_object"}}, "response_format")):
        error = assert_error(post(server, chat(url, **extra)), 400, "unsupported_parameter", "not supported")
        assert error["param"] == param
