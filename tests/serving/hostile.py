"""Hostile inputs shared by tests/serving/test_hostile.py and benchmarks/fuzz_server.py: crafted files
(made the way Pillow writes them, then given the chunk an attacker adds) and seeded request mutations."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zlib

from PIL import Image
from server import data_url, png_bytes


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux /proc)."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    """A Pillow-written 8x8 PNG with one extra chunk inserted after IHDR."""
    raw = png_bytes((8, 8))
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return raw[:33] + chunk + raw[33:]


def ztxt_bomb() -> bytes:
    """zTXt whose text inflates to 20 MB (over Pillow's MAX_TEXT_CHUNK): ~20 KB on the wire."""
    return png_with_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"a" * (20 * 1024 * 1024), 9))


def iccp_bomb() -> bytes:
    return png_with_chunk(b"iCCP", b"profile\x00\x00" + zlib.compress(b"a" * (20 * 1024 * 1024), 9))


def junk_exif_jpeg() -> bytes:
    """A Pillow-written JPEG whose EXIF block is not a TIFF structure (exif_transpose raises SyntaxError)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    return buffer.getvalue()


def wide_png(width: int = 100_000, height: int = 250) -> bytes:
    """A real, tiny-on-the-wire PNG of an extreme aspect ratio (25 MP; padding it to a square is 10 GP)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def chat(model: str, text: str = "What is here?", *urls: str, **extra) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    content = [*parts, {"type": "text", "text": text}] if urls else text
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 2, **extra}


def named_cases(model: str) -> list[tuple[str, dict | bytes]]:
    """(name, JSON body or raw bytes) for each finding of issue 12 that one request can show."""
    msg = [{"role": "user", "content": "hi"}]
    return [
        ("image marker typed in text", chat(model, "look <image> here")),
        ("lone surrogate", b'{"model": "%s", "messages": [{"role": "user", "content": "\\ud800"}]}' % model.encode()),
        ("surrogate in an extension key", b'{"model": "%s", "messages": [{"role": "user", "content": "x"}], "minigemini": {"\\ud800": 1}}' % model.encode()),
        ("zTXt bomb", chat(model, "hi", data_url(ztxt_bomb()))),
        ("iCCP bomb", chat(model, "hi", data_url(iccp_bomb()))),
        ("junk EXIF", chat(model, "hi", data_url(junk_exif_jpeg(), "image/jpeg"))),
        ("100000x250 PNG", chat(model, "hi", data_url(wide_png()))),
        ("seed 2**64", {"model": model, "messages": msg, "seed": 2**64, "temperature": 1}),
        ("temperature 1e-45", {"model": model, "messages": msg, "temperature": 1e-45}),
        ("top_p 1e-46", {"model": model, "messages": msg, "top_p": 1e-46, "temperature": 1}),
        ("max_tokens 10**30", {"model": model, "messages": msg, "max_tokens": 10**30}),
        ("n 10**9", {"model": model, "messages": msg, "n": 10**9}),
        ("five stops", {"model": model, "messages": msg, "stop": ["a", "b", "c", "d", "e"]}),
        ("a 20k-character stop", {"model": model, "messages": msg, "stop": ["x" * 20_000]}),
        ("OCR on a 4000x3 image", chat(model, "hi", data_url(png_bytes((4000, 3), "white")), minigemini={"ocr": True})),
        ("malformed IPv6 URL", chat(model, "hi", "http://[::1/x.png")),
        ("port 99999", chat(model, "hi", "http://127.0.0.1:99999/x.png")),
        ("over-long text", {"model": model, "messages": [{"role": "user", "content": "describe " * 120_000}]}),
    ]


def _mutate_value(rng: random.Random, value):
    choices = [None, -1, 0, 1.5, 2**70, -(2**70), 1e308, "", "\ud800", "<image>", "x" * rng.randint(1, 5000), [], {}, [None], True]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        choices += [value * -1, value * 10**6, float("nan") if rng.random() < 0.1 else 1e-45]
    return rng.choice(choices)


def mutate_request(rng: random.Random, body: dict) -> dict | bytes:
    """One random corruption of a valid request: a field replaced, removed or added, or the JSON cut/flipped."""
    body = json.loads(json.dumps(body))
    kind = rng.randrange(6)
    if kind == 0:
        key = rng.choice(list(body))
        body[key] = _mutate_value(rng, body[key])
    elif kind == 1:
        body.pop(rng.choice(list(body)))
    elif kind == 2:
        body[rng.choice(["temperature", "top_p", "seed", "max_tokens", "stop", "n", "stream", "minigemini", "logprobs", "response_format"])] = _mutate_value(rng, 1)
    elif kind == 3:
        message = body["messages"][-1]
        message[rng.choice(["role", "content", "name"])] = _mutate_value(rng, "x")
    else:
        raw = bytearray(json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"))
        if kind == 4:
            return bytes(raw[: rng.randrange(len(raw))])
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    return body


def mutate_image(rng: random.Random, image: bytes) -> bytes:
    """Flip, cut or splice bytes of a valid encoded image."""
    raw = bytearray(image)
    kind = rng.randrange(3)
    if kind == 0:
        for _ in range(rng.randint(1, 16)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    elif kind == 1:
        raw = raw[: rng.randrange(8, len(raw))]
    else:
        at = rng.randrange(len(raw))
        raw[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(raw)


def seed_images() -> list[tuple[bytes, str]]:
    """Valid images of each common format, to be mutated."""
    out = []
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp"), ("BMP", "image/bmp"), ("TIFF", "image/tiff")):
        buffer = io.BytesIO()
        Image.new("RGB", (24, 16), "blue").save(buffer, format=fmt)
        out.append((buffer.getvalue(), mime))
    return out
