"""Issue 12: the server and the chat CLI survive hostile and broken input.

Every finding gets a clean OpenAI-shaped 4xx (never a 5xx, an internal message or an object repr), then a
seeded run of mutated requests and images checks that nothing answers 5xx, nothing hangs 30 s, the server
still answers a good request and its RSS stays within 300 MiB of where it started.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import socket
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hostile import chat, junk_exif_jpeg, mutate_image, mutate_request, named_cases, rss_bytes, seed_images, wide_png, ztxt_bomb
from server import data_url, png_bytes, running_server
from typer.testing import CliRunner

from minigemini.image_processing import ImageLoadError, ImageTooLargeError, MiniGeminiImageProcessor
from minigemini.serving import ServerSettings, create_app
from minigemini.serving.errors import APIError
from minigemini.serving.remote import is_public
from minigemini.serving.schemas import ChatCompletionRequest

MODEL = "tiny-mgm"
KEY = "hostile-key"


def assert_clean_error(response: httpx.Response, *statuses: int) -> dict:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "object at 0x" not in error["message"] and "Traceback" not in error["message"]
    return error


@pytest.fixture(scope="module")
def server(tiny_checkpoint):
    settings = ServerSettings(
        model=str(tiny_checkpoint), default_max_tokens=4, allow_remote_images=True, remote_image_hosts=["127.0.0.1", "::1"],
        body_timeout_s=1.0,
    )
    with running_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_server(tiny_checkpoint):
    with running_server(ServerSettings(model=str(tiny_checkpoint), api_key=KEY, default_max_tokens=2)) as url:
        yield url


def post(url: str, body: dict | bytes, timeout: float = 30, **headers) -> httpx.Response:
    """POST a body as given, or a dict as JSON with \\u escapes (so lone surrogates and NaN reach the server)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}/v1/chat/completions", content=content, headers={"Content-Type": "application/json", **headers}, timeout=timeout)


# ---- one request per finding ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", [name for name, _ in named_cases(MODEL)])
def test_each_finding_gets_a_clean_4xx(server, name):
    body = dict(named_cases(MODEL))[name]
    error = assert_clean_error(post(server, body), 400, 413)
    assert error["code"] not in (None, "generation_failed")


def test_extreme_aspect_ratio_is_refused_before_padding_and_says_so():
    loader = MiniGeminiImageProcessor(max_image_pixels=25_000_000)
    with pytest.raises(ImageTooLargeError, match=r"100000x250 has an extreme aspect ratio \(400:1\); padding it to a square"):
        loader.load(wide_png())
    assert loader.load(wide_png(6000, 4000)).size == (6000, 4000)  # a 24 MP camera photo still passes
    hd_square = MiniGeminiImageProcessor(aux_image_size=1536, image_grid=2, image_global=True, aspect_ratio="square", max_image_pixels=25_000_000)
    with pytest.raises(ImageTooLargeError, match="resizing its short side to 1536 px would build 94,371,840 pixels"):
        hd_square.load(wide_png(10_000, 250))  # 2.5 MP, but 1536 x 61440 after the short-side resize


def test_junk_metadata_is_an_image_load_error_without_pillow_text():
    loader = MiniGeminiImageProcessor()
    for blob, words in ((junk_exif_jpeg(), "corrupt metadata"), (ztxt_bomb(), "metadata chunk")):
        with pytest.raises(ImageLoadError, match=words) as err:
            loader.load(blob, name="upload")
        assert "object at 0x" not in str(err.value)


def test_schema_refuses_out_of_range_sampling_and_stops():
    ok = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    for bad in ({"seed": 2**63}, {"seed": -(2**63) - 1}, {"temperature": 0.001}, {"top_p": 1e-9}, {"n": 129},
                {"stop": ["a"] * 5}, {"stop": "s" * 257}, {"max_tokens": 2**31}):
        with pytest.raises(ValueError):
            ChatCompletionRequest(**ok, **bad)
    ChatCompletionRequest(**ok, seed=2**63 - 1, temperature=0.0, top_p=1e-6, stop=["a" * 256] * 4)


def test_embedded_private_ipv4_is_private():
    import ipaddress

    for address in ("64:ff9b::7f00:1", "64:ff9b::a00:1", "2002:7f00:1::1", "2002:c0a8:101::", "::127.0.0.1", "::ffff:10.0.0.1", "64:ff9b:1::1"):
        assert not is_public(ipaddress.ip_address(address)), address
    assert is_public(ipaddress.ip_address("64:ff9b::808:808")) and is_public(ipaddress.ip_address("2606:4700::1111"))


# ---- text bounds and memory ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(tiny_checkpoint):
    return create_app(ServerSettings(model=str(tiny_checkpoint))).state.service


def test_over_long_text_is_refused_before_tokenizing(service, monkeypatch):
    def tokenized(*_, **__):
        raise AssertionError("the prompt was tokenized")

    monkeypatch.setattr(service.processor, "encode_prompt", tokenized)
    request = ChatCompletionRequest(model=MODEL, messages=[{"role": "user", "content": "describe " * 20_000}])
    with pytest.raises(APIError) as err:
        asyncio.run(service.prepare(request))
    assert err.value.status == 400 and err.value.code == "context_length_exceeded"
    assert f"{service.max_prompt_chars:,} characters" in err.value.message


def test_many_short_messages_are_refused_before_templating_or_tokenizing(service, monkeypatch):
    """Empty messages pass the text bound; their count, then the rendered prompt's length, must not."""
    def tokenized(*_, **__):
        raise AssertionError("the prompt was tokenized")

    monkeypatch.setattr(service.processor, "encode_prompt", tokenized)
    pair = [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]
    for turns, words in ((service.prompt_token_limit, "messages; each takes at least one token"),
                         (service.prompt_token_limit // 4, "With its template the conversation is")):
        request = ChatCompletionRequest(model=MODEL, messages=pair * turns + [{"role": "user", "content": "x" * (service.max_prompt_chars - 10)}])
        with pytest.raises(APIError, match=words) as err:
            asyncio.run(service.prepare(request))
        assert err.value.code == "context_length_exceeded"
    with pytest.raises(ValueError, match="at most 10,000 messages"):
        ChatCompletionRequest(model=MODEL, messages=pair * 5001)


CLIENT_SIDE = [tracemalloc.Filter(False, "*/httpx/*", all_frames=True), tracemalloc.Filter(False, "*/httpcore/*", all_frames=True),
               tracemalloc.Filter(False, tracemalloc.__file__)]


def server_side_bytes() -> int:
    """Traced memory held now, less what this test's own HTTP client and tracemalloc hold."""
    return sum(stat.size for stat in tracemalloc.take_snapshot().filter_traces(CLIENT_SIDE).statistics("filename"))


def test_rejected_prompts_free_their_token_lists(server):
    """Prompts under the character bound but over the context: their token lists must be freed at once,
    not left in reference cycles for the collector (which large int lists never trigger)."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": " qz" * 3300}]}  # ~6600 tokens > 1024
    assert post(server, body).json()["error"]["code"] == "context_length_exceeded"
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start(40)
        post(server, body)
        before = server_side_bytes()
        for _ in range(15):
            post(server, body)
        grown = server_side_bytes() - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert grown < 400_000, f"{grown:,} bytes still held after 15 rejected prompts"


# ---- one request must not harm others ------------------------------------------------------------------
def test_non_streaming_request_is_cancelled_when_its_client_disconnects(tiny_checkpoint):
    with running_server(ServerSettings(model=str(tiny_checkpoint))) as url:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 900, "minigemini": {"ignore_eos": True}}
        with pytest.raises(httpx.ReadTimeout):
            post(url, body, timeout=0.5)
        deadline = time.monotonic() + 60
        while (stats := httpx.get(f"{url}/v1/stats").json())["batches"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stats["batches"] == 1
        assert stats["generated_tokens"] < 600, f"kept generating after the client left ({stats['generated_tokens']} tokens)"


# ---- network defaults ------------------------------------------------------------------------------------
def test_host_header_must_name_this_machine_on_a_loopback_address(server):
    assert_clean_error(httpx.get(f"{server}/v1/models", headers={"Host": "rebind.attacker.example"}), 400)["code"] == "invalid_host"
    port = server.rsplit(":", 1)[1]
    assert httpx.get(f"{server}/v1/models", headers={"Host": f"localhost:{port}"}).status_code == 200
    assert httpx.get(f"{server}/v1/models").status_code == 200


def test_docs_and_schema_need_the_key_when_one_is_set(keyed_server):
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(f"{keyed_server}{path}").status_code == 401, path
    assert httpx.get(f"{keyed_server}/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_key_is_checked_before_the_body_is_parsed(keyed_server):
    assert_clean_error(post(keyed_server, b'{"not json'), 401)
    assert_clean_error(post(keyed_server, b'{"not json', Authorization=f"Bearer {KEY}"), 400)


def test_a_stalled_body_is_answered_408_by_its_deadline(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\"")
        start = time.monotonic()
        reply = sock.recv(4096)
        waited = time.monotonic() - start
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert waited < 5


class DrippingImage(BaseHTTPRequestHandler):
    """Sends a PNG one byte every 0.1 s: each read is quick, the whole download is not."""

    def do_GET(self):  # noqa: N802
        body = png_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for byte in body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.1)

    def log_message(self, *args):
        pass


def test_remote_timeout_bounds_the_whole_download(tiny_checkpoint):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), DrippingImage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings = ServerSettings(model=str(tiny_checkpoint), allow_remote_images=True, remote_image_hosts=["127.0.0.1"],
                              allow_private_addresses=True, remote_timeout_s=1.0)
    try:
        with running_server(settings) as url:
            start = time.monotonic()
            error = assert_clean_error(post(url, chat(MODEL, "hi", f"http://127.0.0.1:{httpd.server_address[1]}/x.png")), 400)
            assert error["code"] == "image_fetch_timeout"
            assert time.monotonic() - start < 3
    finally:
        httpd.shutdown()


# ---- random mutations --------------------------------------------------------------------------------------
def test_random_mutations_never_get_a_5xx_or_hang(server):
    rng = random.Random(12)
    rss = rss_bytes()
    good = chat(MODEL, "What is here?", data_url(png_bytes()))
    images = seed_images()
    slowest = 0.0
    for i in range(300):
        if i % 2:
            blob, mime = rng.choice(images)
            body = chat(MODEL, "hi", data_url(mutate_image(rng, blob), mime))
        else:
            body = mutate_request(rng, good)
        start = time.monotonic()
        response = post(server, body, timeout=30)
        slowest = max(slowest, time.monotonic() - start)
        assert response.status_code < 500, (i, body if isinstance(body, bytes) else json.dumps(body)[:300], response.text[:300])
        if response.status_code >= 400:
            assert_clean_error(response, response.status_code)
    assert slowest < 30
    assert post(server, good).status_code == 200
    gc.collect()
    assert rss_bytes() - rss < 300 * 2**20


# ---- the chat CLI --------------------------------------------------------------------------------------------
def test_interactive_chat_survives_bad_input_with_its_history(tiny_checkpoint, tmp_path):
    from minigemini.cli import app

    exif, ztxt = tmp_path / "exif.jpg", tmp_path / "ztxt.png"
    exif.write_bytes(junk_exif_jpeg())
    ztxt.write_bytes(ztxt_bomb())
    saved = tmp_path / "chat.json"
    script = "\n".join([
        "first question", f"/image {exif}", f"/image {ztxt}", "describe " * 2000, f"/save {tmp_path / 'missing' / 'chat.json'}",
        "second question", f"/save {saved}", "/quit",
    ]) + "\n"
    result = CliRunner().invoke(app, ["chat", "--model", str(tiny_checkpoint), "--max-new-tokens", "2", "--temperature", "0"], input=script)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert [turn["user"] for turn in json.loads(saved.read_text())] == ["first question", "second question"]
    for words in ("corrupt metadata", "metadata chunk", "context", "missing"):
        assert words in result.output, words
