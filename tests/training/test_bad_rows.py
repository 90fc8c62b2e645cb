"""Bad data never stops an epoch: rows are skipped, counted and summarised; --strict fails fast instead."""

import json

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from minigemini.data.llava import BadRow
from minigemini.training.cli import app
from minigemini.data.tiny import write_tiny_dataset

from tiny_recipes import tiny_recipe


@pytest.fixture
def dirty_recipe(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", n=16, bad_rows=3)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe("align", data, train={"epochs": 1})))
    return path


def test_cli_training_skips_counts_and_summarises_bad_rows(dirty_recipe, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--recipe", str(dirty_recipe), "--output-dir", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bad_samples.json").read_text())
    assert report["counts"] == {"missing_image": 1, "image_marker_mismatch": 1, "malformed_json": 1}
    assert "skipped 3 bad samples" in result.output
    assert (out / "final" / "model.safetensors").exists()


def test_strict_mode_fails_on_the_first_bad_row(dirty_recipe, tmp_path):
    result = CliRunner().invoke(app, ["train", "--recipe", str(dirty_recipe), "--output-dir", str(tmp_path / "run"), "--strict"])
    assert result.exit_code != 0
    assert isinstance(result.exception, BadRow)


def test_cli_reports_recipe_errors_without_a_traceback(dirty_recipe, tmp_path):
    result = CliRunner().invoke(app, ["train", "--recipe", str(dirty_recipe), "--output-dir", str(tmp_path), "--set", "train.lr=-1"])
    assert result.exit_code == 2
    assert "train.lr must be > 0" in result.output


def _junk_exif_jpeg(path):
    """A JPEG whose EXIF block is not TIFF data: Pillow decodes the pixels, `exif_transpose` raises SyntaxError."""
    Image.new("RGB", (32, 32), (200, 0, 0)).save(path, "JPEG", exif=b"Exif\x00\x00JUNKJUNKJUNK")


def test_oversized_and_junk_exif_images_are_skipped_and_counted_by_reason(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", n=16)
    images = tmp_path / "data" / "images"
    _junk_exif_jpeg(images / "junk-exif.jpg")
    Image.new("L", (8200, 8000)).save(images / "65mp.png")  # over the 64 MP guard, under Pillow's 179 MP bomb limit
    odd = [{"id": f"odd-{name}", "image": f"images/{name}", "conversations": [
        {"from": "human", "value": "<image>\nDescribe the image."}, {"from": "gpt", "value": "Odd."}]}
        for name in ("junk-exif.jpg", "65mp.png")]
    with data["align"].open("a") as f:
        f.writelines(json.dumps(row) + "\n" for row in odd)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe("align", data, train={"epochs": 1, "per_device_batch_size": 2})))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--output-dir", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "bad_samples.json").read_text())["counts"] == {"corrupt_image": 1, "image_too_large": 1}
