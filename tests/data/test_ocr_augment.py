"""OCR hints with the real RapidOCR models, and the resumable `ocr-augment` dataset pass."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from typer.testing import CliRunner

from minigemini.data.cli import app
from minigemini.data.ocr_augment import ocr_augment
from minigemini.ocr import format_reference_line, ocr_reference_line

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render_text(lines: list[str], size=(420, 200)) -> Image.Image:
    font = ImageFont.truetype(str(FONT), 30) if FONT.exists() else ImageFont.load_default(size=30)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 70 * i), line, font=font, fill="black")
    return image


def test_reference_line_has_the_official_cli_format():
    assert format_reference_line(["Total: 42", "EXIT"]) == "\nReference OCR Token: Total: 42, EXIT\n"
    assert format_reference_line([]) == ""


def test_rendered_text_is_read_by_the_real_rapidocr_models():
    image = render_text(["Total: 42.50 EUR", "Mini Gemini"])
    assert ocr_reference_line(image) == "\nReference OCR Token: Total: 42.50 EUR, Mini Gemini\n"


def turn(who: str, value: str) -> dict:
    return {"from": who, "value": value}


@pytest.fixture
def dataset(tmp_path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    render_text(["OPEN 24 HOURS"]).save(images / "sign.png")
    Image.new("RGB", (160, 120), "white").save(images / "blank.png")
    rows = [
        {"id": "sign", "image": "sign.png", "conversations": [
            turn("human", "<image>\nWhat does it say?"), turn("gpt", "Open all day."),
            turn("human", "When?"), turn("gpt", "24 hours."),
        ]},
        {"id": "blank", "image": "blank.png", "conversations": [turn("human", "<image>\nAny text?"), turn("gpt", "No.")]},
        {"id": "lost", "image": "lost.jpg", "conversations": [turn("human", "<image>\nHi"), turn("gpt", "Hello")]},
        {"id": "text-only", "conversations": [turn("human", "Hi"), turn("gpt", "Hello")]},
        {"id": "done", "image": "sign.png", "conversations": [
            turn("human", "<image>\nRead\nReference OCR Token: OPEN\n"), turn("gpt", "OPEN")]},
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(rows))
    return path


def test_ocr_augment_appends_lines_to_rows_with_readable_text_and_keeps_every_row(dataset, tmp_path):
    out = tmp_path / "out" / "train_ocr.json"
    counts = ocr_augment(dataset, out, dataset.parent / "images", progress=False)
    assert counts == {"augmented": 1, "no_text": 1, "missing_image": 1, "no_image": 1, "already_augmented": 1}
    rows = json.loads(out.read_text())
    assert [r["id"] for r in rows] == ["sign", "blank", "lost", "text-only", "done"]
    line = "\nReference OCR Token: OPEN 24 HOURS\n"
    humans = [t["value"] for t in rows[0]["conversations"] if t["from"] == "human"]
    assert humans == ["<image>\nWhat does it say?" + line, "When?" + line]
    assert [t["value"] for t in rows[0]["conversations"] if t["from"] == "gpt"] == ["Open all day.", "24 hours."]
    assert rows[1:] == json.loads(dataset.read_text())[1:]

    def no_more_ocr(*_):
        raise AssertionError("a resumed run must reuse the cached OCR results")

    first_only = tmp_path / "out" / "train_ocr_first.json"
    (out.parent / "train_ocr_first.json.ocr-cache.jsonl").write_text(
        (out.parent / "train_ocr.json.ocr-cache.jsonl").read_text() + '{"key": "0.1|torn'
    )
    counts = ocr_augment(dataset, first_only, dataset.parent / "images", turns="first", ocr=no_more_ocr, progress=False)
    assert counts["augmented"] == 1
    humans = [t["value"] for t in json.loads(first_only.read_text())[0]["conversations"] if t["from"] == "human"]
    assert humans == ["<image>\nWhat does it say?" + line, "When?"]


def test_ocr_augment_names_a_missing_image_root(dataset, tmp_path):
    with pytest.raises(FileNotFoundError, match="--image-root"):
        ocr_augment(dataset, tmp_path / "o.json", tmp_path / "nope", progress=False)


def test_cli_reruns_from_the_cache_and_prints_counts(dataset, tmp_path):
    out = tmp_path / "train_ocr.jsonl"
    ocr_augment(dataset, out, dataset.parent / "images", progress=False)
    args = ["ocr-augment", str(dataset), str(out), "--image-root", str(dataset.parent / "images"), "--turns", "first"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "augmented=1" in result.output and "missing_image=1" in result.output
    assert len(out.read_text().splitlines()) == 5


def _ztxt_bomb_png(path: Path) -> None:
    """A valid 16x16 PNG carrying a zTXt chunk that inflates to 80 MiB (Pillow refuses over MAX_TEXT_CHUNK)."""
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "PNG")
    raw, data = buffer.getvalue(), b"k\x00\x00" + zlib.compress(b"A" * (80 << 20), 9)
    chunk = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data))
    path.write_bytes(raw[:33] + chunk + raw[33:])  # after the 8-byte signature and the 25-byte IHDR chunk


def test_odd_images_are_counted_and_skipped_and_every_row_is_written(dataset, tmp_path):
    images = dataset.parent / "images"
    Image.new("RGB", (4000, 3), "white").save(images / "sliver.png")  # the OCR detector cannot resize it
    _ztxt_bomb_png(images / "ztxt.png")
    Image.new("1", (20000, 10000)).save(images / "bomb.png")  # 200 MP: Pillow's decompression-bomb error
    Image.new("1", (9000, 8000)).save(images / "72mp.png")  # under Pillow's limit, over ours
    rows = json.loads(dataset.read_text())
    odd = [{"id": name, "image": f"{name}.png", "conversations": [turn("human", "<image>\nRead."), turn("gpt", "-")]}
           for name in ("sliver", "ztxt", "bomb", "72mp")]
    dataset.write_text(json.dumps(rows[:1] + odd + rows[1:]))
    out = tmp_path / "out.jsonl"
    args = ["ocr-augment", str(dataset), str(out), "--image-root", str(images)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for outcome in ("ocr_failed=1", "unreadable_image=2", "image_too_large=1", "augmented=1"):
        assert outcome in result.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in written] == [r["id"] for r in json.loads(dataset.read_text())]
    assert written[1:5] == odd
    rerun = CliRunner().invoke(app, args)
    assert rerun.exit_code == 0 and "ocr_failed=1" in rerun.output


def test_kill_9_of_the_real_cli_then_rerun_loses_and_duplicates_nothing(dataset, tmp_path):
    from kill_points import kill_when_paused, start_paused

    images = dataset.parent / "images"
    rows = json.loads(dataset.read_text())
    for i, words in enumerate(["EXIT", "NO PARKING", "SALE 50%"]):
        render_text([words]).save(images / f"more{i}.png")
        rows.append({"id": f"more{i}", "image": f"more{i}.png", "conversations": [turn("human", "<image>\nRead."), turn("gpt", "-")]})
    dataset.write_text(json.dumps(rows))
    out, flag = tmp_path / "killed" / "out.jsonl", tmp_path / "paused"
    args = ["ocr-augment", str(dataset), str(out), "--image-root", str(images)]
    proc = start_paused(["data", *args], "minigemini.data.ocr_augment:OcrCache.put", 2, flag)
    kill_when_paused(proc, flag)
    cache = out.with_name("out.jsonl.ocr-cache.jsonl")
    assert len(cache.read_text().splitlines()) == 2 and not out.exists()

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 5  # sign, blank and more0-2: each read once across both runs
    uninterrupted = tmp_path / "full" / "out.jsonl"
    ocr_augment(dataset, uninterrupted, images, progress=False)
    assert out.read_text() == uninterrupted.read_text()
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [r["id"] for r in rows]
