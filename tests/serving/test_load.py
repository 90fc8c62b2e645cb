"""Bounded load on loopback: 50 concurrent streams all complete, batches form, a slow reader stalls no one."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
from server import data_url, image_message, png_bytes, running_server

from minigemini.serving import ServerSettings

COLORS = ["red", "green", "blue", "white", "black"]


def test_fifty_concurrent_streams_complete_and_share_batches(tiny_checkpoint):
    settings = ServerSettings(model=str(tiny_checkpoint), max_batch_size=8, batch_window_ms=20)
    with running_server(settings) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)

        async def one(i: int) -> tuple[str, str | None]:
            image = data_url(png_bytes((32 + i, 24), COLORS[i % len(COLORS)]))
            stream = await client.chat.completions.create(
                model="tiny-mgm", messages=image_message(f"Question {i}?", image), max_tokens=6,
                temperature=0 if i % 2 else 0.8, seed=i, stream=True,
            )
            text, finish = "", None
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                    finish = chunk.choices[0].finish_reason or finish
            return text, finish

        async def run_all():
            return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(50))), timeout=150)

        results = asyncio.run(run_all())
        assert len(results) == 50
        assert all(finish in ("stop", "length") for _, finish in results)
        stats = httpx.get(f"{url}/v1/stats").json()
        assert stats["requests"] == 50
        assert stats["max_batch_size_seen"] > 1, stats
        assert stats["batches"] < 50, "requests were batched, not run one by one"
        assert max(int(size) for size in stats["batch_size_histogram"]) <= 8


def test_a_client_that_reads_slowly_does_not_block_the_others(tiny_checkpoint):
    settings = ServerSettings(model=str(tiny_checkpoint), max_batch_size=4)
    with running_server(settings) as url:
        body = {"model": "tiny-mgm", "messages": image_message("Hi", data_url(png_bytes())), "max_tokens": 12,
                "stream": True, "minigemini": {"ignore_eos": True}}

        async def slow_reader(client: httpx.AsyncClient) -> float:
            async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                async for _ in response.aiter_lines():
                    await asyncio.sleep(0.2)
            return time.monotonic()

        async def quick(client: httpx.AsyncClient) -> float:
            response = await client.post(f"{url}/v1/chat/completions", json={**body, "stream": False})
            assert response.status_code == 200
            return time.monotonic()

        async def run():
            async with httpx.AsyncClient(timeout=120) as client:
                slow = asyncio.create_task(slow_reader(client))
                await asyncio.sleep(0.2)
                quick_done = await asyncio.gather(*(quick(client) for _ in range(4)))
                return max(quick_done), await slow

        quick_finished, slow_finished = asyncio.run(run())
        assert quick_finished < slow_finished - 2, "the quick requests finished while the slow reader was still reading"
