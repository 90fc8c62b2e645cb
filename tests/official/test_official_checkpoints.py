"""Official MGM checkpoint folders load into our model exactly, and convert to our format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from official_fixtures import CLIP_DIR, CONVNEXT_DIR, official_name, timm_name
from safetensors.torch import save_file

from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor
from minigemini.convert import convert_official
from minigemini.official import CheckpointError, is_official_checkpoint
from minigemini.tiny import build_tiny_model_and_processor


def write_official_fixture(root: Path, *, hd: bool = False, towers_in_checkpoint: bool = True, shards: int = 3):
    """A tiny checkpoint in the official layout: config fields, sharded bf16-free safetensors + index,
    tokenizer files, and tower folders referenced by relative `model_zoo/...` paths."""
    model, processor = build_tiny_model_and_processor(seed=3, hd=hd)
    cfg = model.config
    ckpt = root / "MGM-tiny"
    ckpt.mkdir(parents=True)
    state = {official_name(k): v.contiguous() for k, v in model.state_dict().items() if not k.endswith("embed_scale")}
    tower_keys = [k for k in state if k.startswith("model.vision_tower")]
    if not towers_in_checkpoint:
        for k in tower_keys:
            state.pop(k)
    names = sorted(state)
    weight_map = {}
    for i in range(shards):
        part = {k: state[k] for k in names[i::shards]}
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file(part, ckpt / fname)
        weight_map.update({k: fname for k in part})
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    raw = cfg.text_config.to_dict()
    raw.update(
        architectures=["MGMLlamaForCausalLM"], model_type="mgm", mm_vision_tower=CLIP_DIR, mm_vision_tower_aux=CONVNEXT_DIR,
        mm_hidden_size=cfg.vision_config.hidden_size, mm_hidden_size_aux=sum(cfg.aux_vision_config.hidden_sizes),
        mm_projector_type="mlp2x_gelu", mm_vision_select_layer=-2, mm_vision_select_feature="patch",
        image_size_aux=cfg.aux_image_size, image_grid=cfg.image_grid, image_global=cfg.image_global,
        image_aspect_ratio="pad", mm_use_im_start_end=False, mm_use_im_patch_token=False,
        tokenizer_padding_side="right", tokenizer_model_max_length=cfg.tokenizer_model_max_length, use_mm_proj=True,
    )
    (ckpt / "config.json").write_text(json.dumps(raw))
    model.config.vision_config.save_pretrained(root / CLIP_DIR)  # the HF CLIP folder holds config.json + weights
    tok = processor.tokenizer
    tok.save_pretrained(ckpt)  # the tiny tokenizer already holds <image>; official ones get it added on load
    # Tower folders as the official scripts expect them, relative to the working directory.
    clip_dir, cnx_dir = root / CLIP_DIR, root / CONVNEXT_DIR
    cnx_dir.mkdir(parents=True)
    lr = {"vision_model." + k[len("vision_tower.model."):]: v for k, v in model.state_dict().items() if k.startswith("vision_tower.model.")}
    save_file({k: v.contiguous() for k, v in lr.items()}, clip_dir / "model.safetensors")
    hr = {"visual.trunk." + timm_name(k[len("aux_vision_tower."):]): v for k, v in model.state_dict().items() if k.startswith("aux_vision_tower.")}
    torch.save(hr, cnx_dir / "open_clip_pytorch_model.bin")
    return ckpt, model, processor


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
