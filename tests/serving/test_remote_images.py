"""Remote image URLs: off by default; when on, allow-listed hosts only, public addresses only, capped and timed out."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from server import image_message, png_bytes, running_server

from minigemini.image_processing import MiniGeminiImageProcessor
from minigemini.serving import ServerSettings
from minigemini.serving.errors import APIError
from minigemini.serving.images import ImageResolver
from minigemini.serving.remote import host_allowed

PNG = png_bytes((40, 30), "green")


class ImageHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(2)
        body = PNG * 40 if self.path == "/huge" else PNG
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def image_host():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ImageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def resolver(**overrides) -> ImageResolver:
    settings = ServerSettings(model="unused", allow_remote_images=True, remote_image_hosts=["127.0.0.1"], remote_timeout_s=0.5, **overrides)
    return ImageResolver(settings, MiniGeminiImageProcessor())


def refused(fn, code: str, *words: str) -> None:
    with pytest.raises(APIError) as err:
        fn()
    assert err.value.code == code, err.value.message
    for word in words:
        assert word in err.value.message


def test_allow_list_matches_exact_hosts_and_star_subdomains():
    assert host_allowed("images.example.com", ["*.example.com"])
    assert host_allowed("EXAMPLE.com.", ["example.com"])
    assert not host_allowed("example.com.evil.net", ["example.com", "*.example.com"])
    assert not host_allowed("badexample.com", ["*.example.com"])


def test_host_outside_the_allow_list_is_refused():
    refused(lambda: resolver().load("https://example.org/cat.png", "url"), "image_url_forbidden", "not on this server's allow-list")


def test_allowed_host_on_loopback_is_refused_unless_private_addresses_are_allowed():
    with image_host() as base:
        refused(lambda: resolver().load(f"{base}/cat.png", "url"), "image_url_forbidden", "non-public address", "127.0.0.1")
        assert resolver(allow_private_addresses=True).load(f"{base}/cat.png", "url").size == (40, 30)


def test_names_resolving_to_private_addresses_are_refused():
    r = ImageResolver(ServerSettings(model="unused", allow_remote_images=True, remote_image_hosts=["localhost"]), MiniGeminiImageProcessor())
    refused(lambda: r.load("http://localhost:9/cat.png", "url"), "image_url_forbidden", "non-public address")


def test_redirects_are_not_followed():
    with image_host() as base:
        refused(lambda: resolver(allow_private_addresses=True).load(f"{base}/redirect", "url"), "invalid_image_url", "redirects are not followed")


def test_remote_size_cap_and_timeout():
    with image_host() as base:
        r = resolver(allow_private_addresses=True, max_image_bytes=len(PNG) * 10)
        refused(lambda: r.load(f"{base}/huge", "url"), "image_too_large", "larger than the limit")
        refused(lambda: r.load(f"{base}/slow", "url"), "image_fetch_timeout", "timed out")


def test_remote_image_through_the_api_when_enabled(tiny_checkpoint):
    settings = ServerSettings(
        model=str(tiny_checkpoint), allow_remote_images=True, remote_image_hosts=["127.0.0.1"], allow_private_addresses=True
    )
    with image_host() as base, running_server(settings) as url:
        body = {"model": "tiny-mgm", "messages": image_message("What is here?", f"{base}/cat.png"), "max_tokens": 2}
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["prompt_tokens_details"]["image_tokens"] == 16
