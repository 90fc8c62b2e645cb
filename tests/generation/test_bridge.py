"""The generation bridge renders `<h>` prompts through a real (tiny, random) SDXL pipeline."""

import numpy as np
import pytest
import torch
from PIL import Image

from minigemini.generation import (
    OFFICIAL_NEGATIVE_PROMPT,
    GenerationBridge,
    PipelineUnavailableError,
    resolve_dtype,
)


@pytest.fixture(scope="module")
def bridge(tiny_sdxl) -> GenerationBridge:
    return GenerationBridge(pipeline=tiny_sdxl, device="cpu", steps=2, progress_bar=False)


def test_answer_with_a_prompt_is_rendered_and_saved(bridge, tmp_path):
    result = bridge.respond("Here is your dragon. <h>a fire-spitting dragon, cinematic</h>", tmp_path, seed=1)
    assert result.text == "Here is your dragon."
    assert result.prompt == "a fire-spitting dragon, cinematic"
    assert result.path is not None and result.path.parent == tmp_path and result.path.suffix == ".png"
    with Image.open(result.path) as saved:
        assert saved.size == (32, 32)
    assert result.image.size == (32, 32)


def test_the_official_negative_prompt_is_used_by_default(bridge):
    assert bridge.render("a cat", seed=0).negative_prompt == OFFICIAL_NEGATIVE_PROMPT
    assert OFFICIAL_NEGATIVE_PROMPT.startswith("out of frame, lowres, text, error, cropped")
    assert OFFICIAL_NEGATIVE_PROMPT.endswith("long neck, username, watermark, signature")


def test_same_seed_gives_the_same_image_and_another_seed_does_not(bridge):
    first = np.asarray(bridge.render("a lighthouse", seed=7).image)
    again = np.asarray(bridge.render("a lighthouse", seed=7).image)
    other = np.asarray(bridge.render("a lighthouse", seed=8).image)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_drawn_seed_is_recorded_so_the_image_can_be_reproduced(bridge):
    drawn = bridge.render("a boat")
    assert np.array_equal(np.asarray(drawn.image), np.asarray(bridge.render("a boat", seed=drawn.seed).image))


def test_size_steps_guidance_and_filename_can_be_set_per_call(bridge, tmp_path):
    result = bridge.respond(
        "<h>a tiny house</h>", tmp_path, filename="generate.png", width=16, height=24, steps=1, guidance=1.0
    )
    assert result.path == tmp_path / "generate.png"
    assert Image.open(result.path).size == (16, 24)


def test_answer_without_a_prompt_never_loads_the_pipeline(tmp_path):
    lazy = GenerationBridge(pipeline=tmp_path / "does-not-exist", device="cpu")
    result = lazy.respond("Just text, <h>unterminated", tmp_path)
    assert (result.prompt, result.image, result.path) == (None, None, None)
    assert result.text == "Just text, unterminated"
    assert not lazy.loaded
    assert list(tmp_path.iterdir()) == []


def test_bf16_override_renders_on_cpu(tiny_sdxl):
    bf16 = GenerationBridge(pipeline=tiny_sdxl, device="cpu", dtype="bf16", steps=1)
    assert bf16.pipe.unet.dtype == torch.bfloat16
    assert bf16.render("a tree", seed=0).image.size == (32, 32)


def test_dtype_policy_is_fp16_on_gpus_fp32_on_cpu_and_overridable():
    assert resolve_dtype("cuda") == torch.float16
    assert resolve_dtype("cuda:1") == torch.float16
    assert resolve_dtype("cpu") == torch.float32
    assert resolve_dtype("cpu", "bf16") == torch.bfloat16
    assert resolve_dtype("cuda", torch.float32) == torch.float32
    with pytest.raises(ValueError, match="Unknown dtype 'int8'"):
        resolve_dtype("cpu", "int8")


def test_missing_hub_pipeline_offline_names_it_and_says_how_to_pass_a_folder(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PipelineUnavailableError) as err:
        GenerationBridge(pipeline="no-such-org/no-such-pipeline", device="cpu").render("a cat")
    message = str(err.value)
    assert "no-such-org/no-such-pipeline" in message
    assert "--local-dir DIR" in message and "pass DIR as the pipeline" in message


def test_folder_that_is_not_a_pipeline_is_rejected_clearly(tmp_path):
    with pytest.raises(PipelineUnavailableError, match="no model_index.json"):
        GenerationBridge(pipeline=tmp_path, device="cpu").render("a cat")


def test_empty_prompt_is_refused(bridge):
    with pytest.raises(ValueError, match="empty prompt"):
        bridge.render("  ")
