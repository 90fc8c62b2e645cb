"""Fixtures for evaluation tests: a local OpenAI-compatible judge server and prepared benchmark folders."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import uvicorn
from eval_helpers import HUB_BUILDERS, free_port, scripted_judge_reply
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@pytest.fixture()
def judge_server():
    """An OpenAI-compatible chat-completions server on 127.0.0.1 answering with `scripted_judge_reply`."""
    app = FastAPI()
    received: list[dict] = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        received.append(body)
        reply = scripted_judge_reply(body["messages"][-1]["content"], float(body.get("temperature", 0.0)))
        if reply is None:
            return JSONResponse({"error": {"message": "scripted failure"}}, status_code=500)
        return {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    assert server.started, "judge test server did not start"
    yield {"base_url": f"http://127.0.0.1:{port}/v1", "received": received}
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture()
def prepared(tmp_path):
    """prepared(bench) -> a benchmark folder made by `prepare` from a generated hub parquet copy."""
    from minigemini.evaluation import get_benchmark

    def build(bench: str) -> Path:
        source = tmp_path / f"hub-{bench}"
        HUB_BUILDERS[bench](source)
        return get_benchmark(bench).prepare(source, tmp_path / bench)

    return build
