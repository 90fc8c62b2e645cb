"""`python -m minigemini.serving serve` as a real process: SIGTERM lets an in-flight stream finish, then shuts down cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from server import data_url, free_port, image_message, png_bytes


@pytest.mark.timeout(120)
def test_sigterm_finishes_the_in_flight_stream_then_exits_cleanly(tiny_checkpoint):
    port = free_port()
    env = {**os.environ, "MINIGEMINI_API_KEY": "k"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minigemini.serving", "serve", "--model", str(tiny_checkpoint), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        body = {"model": "tiny-mgm", "messages": image_message("Hi", data_url(png_bytes())), "max_tokens": 24,
                "stream": True, "stream_options": {"include_usage": True}, "minigemini": {"ignore_eos": True}}
        events = []
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, headers=headers, timeout=60) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                events.append(line[6:])
                if len(events) == 2:
                    proc.send_signal(signal.SIGTERM)
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["usage"]["completion_tokens"] == 24
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown (the conventional exit status)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        log = proc.stdout.read()
        assert "Waiting for application shutdown." in log and "Application shutdown complete." in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
