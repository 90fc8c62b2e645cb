"""Send >= 1000 hostile requests to a local tiny-model server and report how it held up.

    python benchmarks/fuzz_server.py [--requests 1200] [--seed 0] [--concurrency 4]

Starts `minigemini serve --model tiny` semantics in a child process on 127.0.0.1 (never another address),
then sends every crafted case of issue 12 (tests/serving/hostile.py) and seeded mutations of valid requests
and images. Prints the count of responses by status, the slowest request, and the server's RSS before,
at its peak and after. A 5xx or a request over 30 s is a failure (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))
from hostile import chat, mutate_image, mutate_request, named_cases, rss_bytes, seed_images  # noqa: E402
from server import data_url, png_bytes  # noqa: E402

MODEL = "tiny"


def serve(port: int) -> None:
    """Child process: the tiny model behind the real app and uvicorn."""
    import uvicorn

    from minigemini.serving import ServerSettings, create_app

    settings = ServerSettings(model=MODEL, default_max_tokens=8, allow_remote_images=True, remote_image_hosts=["127.0.0.1"])
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="error")


def requests(n: int, seed: int) -> list[dict | bytes]:
    rng = random.Random(seed)
    good = chat(MODEL, "What is here?", data_url(png_bytes()))
    images = seed_images()
    bodies: list[dict | bytes] = [body for _, body in named_cases(MODEL)]
    while len(bodies) < n:
        if rng.random() < 0.5:
            blob, mime = rng.choice(images)
            bodies.append(chat(MODEL, "hi", data_url(mutate_image(rng, blob), mime)))
        else:
            bodies.append(mutate_request(rng, good))
    return bodies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()

    child = multiprocessing.get_context("spawn").Process(target=serve, args=(args.port,), daemon=True)
    child.start()
    url = f"http://127.0.0.1:{args.port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not child.is_alive():
            print("the server did not start", file=sys.stderr)
            return 1
        time.sleep(0.2)
    rss_before = peak = rss_bytes(child.pid)
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_bytes(child.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    statuses: Counter = Counter()
    slowest = (0.0, "")
    client = httpx.Client(timeout=60)

    def send(body: dict | bytes) -> tuple[int | str, float, str]:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        start = time.monotonic()
        try:
            status: int | str = client.post(f"{url}/v1/chat/completions", content=content, headers={"Content-Type": "application/json"}).status_code
        except httpx.TimeoutException:
            status = "timeout"
        return status, time.monotonic() - start, content[:120].decode("utf-8", "replace")

    bodies = requests(args.requests, args.seed)
    started = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        for status, seconds, head in pool.map(send, bodies):
            statuses[status] += 1
            if seconds > slowest[0]:
                slowest = (seconds, head)
    wall = time.monotonic() - started
    good = client.post(f"{url}/v1/chat/completions", json=chat(MODEL, "What is here?", data_url(png_bytes()))).status_code
    stop.set()
    watcher.join()
    rss_after = rss_bytes(child.pid)
    child.terminate()
    child.join(30)

    mib = 2**20
    print(f"requests: {len(bodies)} in {wall:.1f} s, concurrency {args.concurrency}, seed {args.seed}")
    print("status counts: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))))
    print(f"slowest request: {slowest[0]:.2f} s ({slowest[1]!r})")
    print(f"server RSS: before {rss_before / mib:.0f} MiB, peak {peak / mib:.0f} MiB, after {rss_after / mib:.0f} MiB")
    print(f"a good request afterwards: {good}")
    failed = sum(v for k, v in statuses.items() if k == "timeout" or (isinstance(k, int) and k >= 500)) + (good != 200)
    return 1 if failed or slowest[0] > 30 else 0


if __name__ == "__main__":
    sys.exit(main())
