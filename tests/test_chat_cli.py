"""`minigemini chat`: one-shot and interactive turns, `--gen` rendering an image end to end, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from minigemini.chat import ChatSession, ChatTurn
from minigemini.cli import app
from tiny_sdxl import build_tiny_sdxl_pipeline
from minigemini.tiny import build_tiny_model_and_processor
from tiny_checkpoints import build_tiny_checkpoint, teach_answer

runner = CliRunner()


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "red.png"
    Image.fromarray(np.full((40, 60, 3), (200, 30, 30), dtype=np.uint8)).save(path)
    return path


def test_one_shot_chat_answers_and_exits(tmp_path, image_file):
    ckpt = build_tiny_checkpoint(tmp_path / "tiny")
    result = runner.invoke(app, ["chat", "--model", str(ckpt), "--image", str(image_file), "--prompt", "What is it?",
                                 "--max-new-tokens", "4", "--temperature", "0"])
    assert result.exit_code == 0, result.output
    assert "assistant:" in result.output


def test_interactive_chat_handles_slash_commands_and_saves_the_history(tmp_path, image_file):
    ckpt = build_tiny_checkpoint(tmp_path / "tiny")
    saved = tmp_path / "chat.json"
    script = f"/image {image_file}\nhello\n/image {tmp_path / 'missing.png'}\nagain\n/save {saved}\n/reset\n/quit\n"
    result = runner.invoke(app, ["chat", "--model", str(ckpt), "--max-new-tokens", "3", "--temperature", "0"], input=script)
    assert result.exit_code == 0, result.output
    assert "missing.png:filenotfound" in re.sub(r"\s+", "", result.output)  # rich may wrap anywhere
    turns = json.loads(saved.read_text())
    assert [t["user"] for t in turns] == ["hello", "again"]
    assert turns[0]["images"] == [str(image_file)] and turns[1]["images"] == []


def test_gen_renders_the_models_prompt_with_a_local_diffusers_pipeline(tmp_path, image_file):
    """The model writes <h>...</h> after the <GEN> trigger; the prompt is rendered and the image saved."""
    ckpt = build_tiny_checkpoint(tmp_path / "tiny")
    image = Image.open(image_file).convert("RGB")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Draw it <GEN>"}]}]
    taught = teach_answer(ckpt, tmp_path / "taught", messages, [image], "Sure. <h>a red square</h>")
    pipeline = build_tiny_sdxl_pipeline(tmp_path / "sdxl")
    out_dir = tmp_path / "out"
    result = runner.invoke(app, ["chat", "--model", str(taught), "--image", str(image_file), "--prompt", "Draw it",
                                 "--gen", "--gen-pipeline", str(pipeline), "--gen-steps", "1", "--temperature", "0",
                                 "--max-new-tokens", "24", "--output-dir", str(out_dir)])
    assert result.exit_code == 0, result.output
    assert "a red square" in result.output
    pngs = list(out_dir.glob("*.png"))
    assert len(pngs) == 1 and Image.open(pngs[0]).size[0] > 0


def test_generated_prompt_stays_in_the_history_as_text(tmp_path, image_file):
    model, processor = build_tiny_model_and_processor()
    session = ChatSession(model, processor, max_new_tokens=3, temperature=0)
    session.add_image(str(image_file))
    session.ask("first")
    session.turns[-1].answer = "ok <h>a cat</h>"
    prompt = processor.apply_chat_template(session._messages(ChatTurn(user="second")))
    assert "<h>a cat</h>" in prompt and prompt.count("<image>") == 1


def test_chat_rejects_a_corrupt_image_with_its_name(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    result = runner.invoke(app, ["chat", "--model", "tiny", "--image", str(bad), "--prompt", "hi"])
    assert result.exit_code != 0
    flat = re.sub(r"[\s│╭╮╰╯─]+", "", result.output)  # undo rich's box and line wrapping
    assert "bad.png" in flat and "notareadableimage" in flat


def test_quantised_loading_explains_it_needs_a_gpu(tmp_path):
    result = runner.invoke(app, ["chat", "--model", "tiny", "--prompt", "hi", "--load-4bit"])
    assert result.exit_code != 0
    assert "bitsandbytes" in result.output or "CUDA" in result.output
