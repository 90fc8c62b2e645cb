"""A small generated LLaVA dataset (coloured squares in quadrants) that tiny recipes learn on CPU in seconds.

    minigemini data tiny tiny-data      # writes align.jsonl, instruct.jsonl, images/
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
QUADRANTS = ["top left", "top right", "bottom left", "bottom right"]


def _image(color: tuple[int, int, int], quadrant: int, size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), (255, 255, 255))
    half = size // 2
    x0, y0 = (quadrant % 2) * half, (quadrant // 2) * half
    img.paste(color, (x0 + 4, y0 + 4, x0 + half - 4, y0 + half - 4))
    return img


def write_tiny_dataset(root: str | Path, n: int = 64, *, seed: int = 0, size: int = 64, bad_rows: int = 0, text_only: int = 0) -> dict[str, Path]:
    """Write `n` images plus align (caption) and instruct (question -> answer) JSONL files under `root`.

    `bad_rows` appends rows that must be skipped (missing image, marker mismatch, malformed JSON);
    `text_only` appends instruct rows without an image.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    align, instruct = [], []
    for i in range(n):
        color = rng.choice(list(COLORS))
        quadrant = rng.randrange(4)
        name = f"images/{i:04d}.png"
        _image(COLORS[color], quadrant, size).save(root / name)
        align.append({"id": f"a{i}", "image": name, "conversations": [
            {"from": "human", "value": "<image>\nDescribe the image."},
            {"from": "gpt", "value": f"A {color} square in the {QUADRANTS[quadrant]}."},
        ]})
        instruct.append({"id": f"i{i}", "image": name, "conversations": [
            {"from": "human", "value": "<image>\nWhich quadrant contains the square? What colour is it?"},
            {"from": "gpt", "value": f"The {color} square is in the {QUADRANTS[quadrant]}."},
        ]})
    for i in range(text_only):
        instruct.append({"id": f"t{i}", "conversations": [
            {"from": "human", "value": "Answer the question using a single word or phrase. Is the sky blue?"},
            {"from": "gpt", "value": "yes"},
        ]})
    lines = {"align": [json.dumps(r) for r in align], "instruct": [json.dumps(r) for r in instruct]}
    bad = [
        json.dumps({"id": "missing", "image": "images/nope.png", "conversations": align[0]["conversations"]}),
        json.dumps({"id": "markers", "conversations": align[0]["conversations"]}),
        '{"id": "broken", "conversations": [',
    ]
    for k in range(bad_rows):
        for key in lines:
            lines[key].insert((k * 7 + 3) % len(lines[key]), bad[k % len(bad)])
    paths = {}
    for key, rows in lines.items():
        paths[key] = root / f"{key}.jsonl"
        paths[key].write_text("\n".join(rows) + "\n")
    paths["image_root"] = root
    return paths

