"""Serving throughput and latency on loopback: batching on vs. sequential (max batch 1), side by side.

    python benchmarks/serving.py                      # tiny random model, 32 requests per level
    python benchmarks/serving.py --model PATH --requests 64 --max-tokens 32 --concurrency 1 4 16
    python benchmarks/serving.py --engine vllm        # also vLLM's server with our plugin (needs .venv-vllm)

With `--engine vllm` the same model (the tiny one gets head_dim 32, vLLM's CPU minimum) is also served by
vLLM's OpenAI server (`minigemini serve --engine vllm`'s command line, max batch = `--batch-size`), and the
same requests run against it in the same run.

Each request streams `--max-tokens` tokens (EOS ignored, so every request does the same work) about
one image. Latency is the time to the last byte; TTFT the time to the first content delta; tok/s counts the
tokens the server reports in `usage`. `--distinct-images` gives every request of the run its own image
(otherwise all requests are identical, which a prefix/encoder cache such as vLLM's can reuse).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import itertools
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn
from PIL import Image

from minigemini.serving import ServerSettings, create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(settings: ServerSettings):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


_IMAGE_SEEDS = itertools.count(1)  # --distinct-images: a new image for every request of the run


def _image_url(seed: int = 0) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 60 + seed % 190, 40 + seed // 190 % 200)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _with_image(body: dict, image_url: str) -> dict:
    content = [{"type": "image_url", "image_url": {"url": image_url}}, *body["messages"][0]["content"][1:]]
    return {**body, "messages": [{"role": "user", "content": content}]}


async def _one(client: httpx.AsyncClient, url: str, body: dict) -> tuple[float, float, int]:
    start = time.perf_counter()
    first, tokens = None, body["max_tokens"]
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
    end = time.perf_counter()
    return end - start, (first or end) - start, tokens


async def _level(url: str, body: dict, concurrency: int, requests: int, distinct: bool) -> dict:
    gate = asyncio.Semaphore(concurrency)
    body = {**body, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=concurrency + 4)) as client:
        async def guarded():
            async with gate:
                return await _one(client, url, _with_image(body, _image_url(next(_IMAGE_SEEDS))) if distinct else body)

        stats = (await client.get(f"{url}/v1/stats")).status_code == 200  # ours only
        before = (await client.get(f"{url}/v1/stats")).json() if stats else None
        start = time.perf_counter()
        results = await asyncio.gather(*(guarded() for _ in range(requests)))
        wall = time.perf_counter() - start
        after = (await client.get(f"{url}/v1/stats")).json() if stats else None
    latencies = sorted(r[0] for r in results)
    return {
        "rps": requests / wall,
        "tok_s": sum(r[2] for r in results) / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "ttft50": statistics.median(r[1] for r in results),
        "mean_batch": (after["requests"] - before["requests"]) / max(1, after["batches"] - before["batches"])
        if stats else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder (default: a tiny random model)")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16, help="max batch size of the batching server")
    parser.add_argument("--engine", choices=["minigemini", "vllm"], default="minigemini",
                        help="vllm: also run the requests against vLLM's server with the plugin, in the same run")
    parser.add_argument("--vllm-arg", action="append", default=[], help="extra vLLM server argument (repeatable)")
    parser.add_argument("--distinct-images", action="store_true", help="a new image for every request")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from minigemini.tiny import build_tiny_model_and_processor

            model = f"{tmp}/tiny-mgm"
            head32 = {"text_config": dict(hidden_size=64, intermediate_size=128, num_attention_heads=2, head_dim=32)}
            for part in build_tiny_model_and_processor(**(head32 if args.engine == "vllm" else {})):
                part.save_pretrained(model)
        name = ServerSettings(model=model).served_name
        body = {
            "model": name, "max_tokens": args.max_tokens, "temperature": 0, "stream": True, "minigemini": {"ignore_eos": True},
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": _image_url()}},
                                                      {"type": "text", "text": "Describe the picture in detail."}]}],
        }
        rows = []
        modes = [("batched", args.batch_size), ("sequential", 1)] + ([("vllm", args.batch_size)] if args.engine == "vllm" else [])
        for mode, batch in modes:
            settings = ServerSettings(model=model, max_batch_size=batch, max_tokens_limit=max(2048, args.max_tokens))
            server, mode_body = serve(settings), body
            if mode == "vllm":  # vLLM's own spelling of the same request
                from minigemini.vllm.launch import running_vllm_server

                kv_space = {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
                server = running_vllm_server(settings, _free_port(), args.vllm_arg, env=kv_space)
                mode_body = {**{k: v for k, v in body.items() if k != "minigemini"}, "ignore_eos": True}
            with server as url:
                asyncio.run(_level(url, {**mode_body, "max_tokens": 2}, 1, 2, args.distinct_images))  # warm-up
                for c in args.concurrency:
                    rows.append((mode, c, asyncio.run(_level(url, mode_body, c, args.requests, args.distinct_images))))

    images = "a new image for every request" if args.distinct_images else "the same image in every request"
    print(f"\n{args.requests} streamed requests per level, {args.max_tokens} tokens each, {images}\n")
    header = f"{'mode':<11}{'conc':>5}{'req/s':>9}{'tok/s':>9}{'p50 s':>9}{'p95 s':>9}{'TTFT p50':>10}{'mean batch':>12}"
    print(header)
    print("-" * len(header))
    for mode, c, r in rows:
        print(f"{mode:<11}{c:>5}{r['rps']:>9.2f}{r['tok_s']:>9.1f}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['ttft50']:>10.2f}{r['mean_batch']:>12.2f}")
    rps = {(mode, c): r["rps"] for mode, c, r in rows}
    for c in args.concurrency if args.engine == "vllm" else []:
        print(f"vLLM / batched requests/s at concurrency {c}: {rps[('vllm', c)] / rps[('batched', c)]:.2f}")


if __name__ == "__main__":
    main()
