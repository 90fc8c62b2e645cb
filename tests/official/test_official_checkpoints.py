"""Official MGM checkpoint folders load into our model exactly, and convert to our format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from official_fixtures import write_official_checkpoint

from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor
from minigemini.convert import convert_official
from minigemini.official import CheckpointError, is_official_checkpoint


def write_official_fixture(root: Path, *, hd: bool = False, towers_in_checkpoint: bool = True, shards: int = 3):
    """A tiny Vicuna-flavoured checkpoint in the official layout at root/MGM-tiny, towers in model_zoo/ folders."""
    fixture = write_official_checkpoint(root, "vicuna", hd=hd, towers_in_checkpoint=towers_in_checkpoint,
                                        shards=shards, name="MGM-tiny", seed=3)
    return fixture.path, fixture.reference, fixture.processor


def _inputs(processor, hd: bool):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8))
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}])
    return processor(text=prompt, images=[img])


@pytest.mark.parametrize("hd", [False, True], ids=["normal", "hd"])
def test_official_sharded_checkpoint_loads_with_identical_weights_and_logits(tmp_path, monkeypatch, hd):
    ckpt, reference, ref_processor = write_official_fixture(tmp_path, hd=hd)
    monkeypatch.chdir(tmp_path)  # official configs name towers relative to the working directory
    assert is_official_checkpoint(ckpt)
    model = MiniGeminiForConditionalGeneration.from_pretrained(ckpt)
    processor = MiniGeminiProcessor.from_pretrained(ckpt)
    ours, ref = model.state_dict(), reference.state_dict()
    assert set(ours) == set(ref)
    for k in ref:
        assert torch.equal(ours[k], ref[k]), k
    assert processor.template == "vicuna_v1"
    assert processor.image_seq_length == reference.config.image_seq_length
    inputs = _inputs(processor, hd)
    ref_inputs = _inputs(ref_processor, hd)
    assert torch.equal(inputs["input_ids"], ref_inputs["input_ids"])
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, reference(**ref_inputs).logits, atol=1e-5)


def test_towers_missing_from_checkpoint_are_read_from_relative_model_zoo_folders(tmp_path, monkeypatch):
    ckpt, reference, _ = write_official_fixture(tmp_path, towers_in_checkpoint=False)
    monkeypatch.chdir(tmp_path)  # official configs hold paths relative to the working directory
    model = MiniGeminiForConditionalGeneration.from_pretrained(ckpt)
    for k, v in reference.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_missing_tower_names_the_fix(tmp_path, monkeypatch):
    ckpt, _, _ = write_official_fixture(tmp_path, towers_in_checkpoint=False)
    monkeypatch.chdir(tmp_path / "MGM-tiny")  # the relative model_zoo paths no longer resolve
    config = json.loads((ckpt / "config.json").read_text())
    config["mm_vision_tower"] = "model_zoo/elsewhere/my-own-clip"
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="LR vision tower"):
        MiniGeminiForConditionalGeneration.from_pretrained(ckpt)


def test_unknown_model_type_is_rejected_clearly(tmp_path):
    ckpt, _, _ = write_official_fixture(tmp_path)
    config = json.loads((ckpt / "config.json").read_text())
    config["model_type"] = "mgm_phi"
    (ckpt / "config.json").write_text(json.dumps(config))
    assert not is_official_checkpoint(ckpt)
    with pytest.raises(Exception, match="mgm_phi"):
        MiniGeminiForConditionalGeneration.from_pretrained(ckpt)


def test_bin_shards_are_read_without_unpickling_code(tmp_path, monkeypatch):
    ckpt, reference, _ = write_official_fixture(tmp_path, shards=2)
    monkeypatch.chdir(tmp_path)
    weight_map = {}
    for shard in sorted(ckpt.glob("model-*.safetensors")):
        from safetensors.torch import load_file

        part = load_file(shard)
        name = shard.name.replace(".safetensors", ".bin").replace("model-", "pytorch_model-")
        torch.save(part, ckpt / name)
        weight_map.update({k: name for k in part})
        shard.unlink()
    (ckpt / "model.safetensors.index.json").unlink()
    (ckpt / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    model = MiniGeminiForConditionalGeneration.from_pretrained(ckpt)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, ckpt / weight_map[next(iter(weight_map))])
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        MiniGeminiForConditionalGeneration.from_pretrained(ckpt)


def test_convert_writes_a_self_contained_folder_that_round_trips(tmp_path, monkeypatch):
    ckpt, reference, _ = write_official_fixture(tmp_path, hd=True)
    monkeypatch.chdir(tmp_path)
    out = convert_official(ckpt, tmp_path / "converted")
    assert (out / "model.safetensors").exists() and (out / "processor_config.json").exists()
    assert not is_official_checkpoint(out)
    model = MiniGeminiForConditionalGeneration.from_pretrained(out)
    processor = MiniGeminiProcessor.from_pretrained(out)
    assert model.config.image_grid == 2 and model.config.image_global
    for k, v in reference.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    inputs = _inputs(processor, True)
    assert inputs["pixel_values"].shape[1] == 5
