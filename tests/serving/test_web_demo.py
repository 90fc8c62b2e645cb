"""The Gradio demo in real headless Chromium: upload an image, ask, watch the answer stream in."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from server import png_bytes, running_server

from minigemini.serving import ServerSettings

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def ensure_chromium() -> str:
    """/usr/bin/chromium, installed with apt-get when missing; skip only when that is impossible."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and apt-get is unavailable to install it")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.skip(f"could not install chromium ({' '.join(cmd)} failed: {result.stderr[-300:]})")
    return CHROMIUM


@pytest.mark.timeout(240)
def test_demo_uploads_an_image_and_streams_an_answer(tiny_checkpoint, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = ensure_chromium()
    image = tmp_path / "red.png"
    image.write_bytes(png_bytes((64, 48)))
    ARTIFACTS.mkdir(exist_ok=True)
    settings = ServerSettings(model=str(tiny_checkpoint), default_max_tokens=24)
    with running_server(settings, ui=True) as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{url}/ui/", wait_until="load")
        page.locator("#prompt textarea").wait_for(timeout=60_000)
        page.locator("#prompt input[type=file]").set_input_files(str(image))
        page.locator("#prompt img").first.wait_for(timeout=30_000)  # the upload preview
        page.locator("#prompt textarea").fill("What is in the image?")
        page.evaluate(
            """() => { window.__answers = new Set();
                new MutationObserver(() => { const b = document.querySelectorAll('#chat .bot');
                    if (b.length) window.__answers.add(b[b.length-1].innerText.trim()); })
                .observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true}); }"""
        )
        page.locator("#prompt textarea").press("Enter")
        bot = page.locator("#chat .bot").last
        bot.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => { const b = document.querySelectorAll('#chat .bot'); return b.length && b[b.length-1].innerText.trim().length > 0 }",
            timeout=60_000,
        )
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "web-demo.png"), full_page=True)
        assert page.locator("#chat .user img").count() >= 1, "the uploaded image is shown in the conversation"
        assert bot.inner_text().strip(), "an answer appeared in the chat"
        partial = page.evaluate("() => [...window.__answers].filter(t => t.length).length")
        assert partial >= 2, "the answer arrived in several streamed pieces, not all at once"
        browser.close()
    assert (ARTIFACTS / "web-demo.png").stat().st_size > 0


def test_with_an_api_key_the_demo_asks_for_it_as_the_password(tiny_checkpoint):
    with running_server(ServerSettings(model=str(tiny_checkpoint), api_key="k"), ui=True) as url:
        assert httpx.get(f"{url}/ui/config").status_code == 401
        with httpx.Client() as browser:
            assert browser.post(f"{url}/ui/login", data={"username": "anyone", "password": "wrong"}).status_code == 400
            assert browser.post(f"{url}/ui/login", data={"username": "anyone", "password": "k"}).status_code == 200
            assert browser.get(f"{url}/ui/config").status_code == 200


def _ask_demo(client: httpx.Client, path: str, text: str = "hi") -> httpx.Response:
    """Submit a demo turn naming `path` as its image, the way Gradio's JS client does (queue/join)."""
    config = client.get("/ui/config").json()
    fn = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "respond")
    box = {"text": text, "files": [{"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.png"}]}
    body = {"data": [box, [], [], False, False, 0.2, 0.7, 2], "fn_index": fn, "session_hash": "s", "trigger_id": None, "event_data": None}
    return client.post("/ui/gradio_api/queue/join", json=body)


def test_demo_reads_only_files_this_session_uploaded(tiny_checkpoint, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    with running_server(ServerSettings(model=str(tiny_checkpoint), default_max_tokens=2), ui=True) as url:
        with httpx.Client(base_url=url, timeout=60) as browser, httpx.Client(base_url=url, timeout=60) as other:
            browser.get("/ui/")
            for path in (str(secret), str(tmp_path / "missing.png"), "/etc/hostname"):
                refused = _ask_demo(browser, path)
                assert refused.status_code == 403, refused.text
                assert path not in refused.text and "secret" not in refused.text
            uploaded = browser.post("/ui/gradio_api/upload", files={"files": ("red.png", png_bytes(), "image/png")}).json()[0]
            assert _ask_demo(browser, uploaded).status_code == 200
            other.get("/ui/")
            assert _ask_demo(other, uploaded).status_code == 403, "another browser may not name this session's upload"


def test_demo_shows_a_refused_message_as_a_chat_line(tiny_checkpoint):
    with running_server(ServerSettings(model=str(tiny_checkpoint), default_max_tokens=2), ui=True) as url:
        with httpx.Client(base_url=url, timeout=60) as browser:
            browser.get("/ui/")
            uploaded = browser.post("/ui/gradio_api/upload", files={"files": ("red.png", png_bytes(), "image/png")}).json()[0]
            assert _ask_demo(browser, uploaded, text="what is <image> here").status_code == 200
            with browser.stream("GET", "/ui/gradio_api/queue/data", params={"session_hash": "s"}) as events:
                done = next(json.loads(line[5:]) for line in events.iter_lines() if "process_completed" in line)
    assert done["success"], done
    assert "image_url content parts" in json.dumps(done["output"]["data"][0])
