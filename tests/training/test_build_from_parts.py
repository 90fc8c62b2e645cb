"""The `model.llm` + towers path: a pretrained LLM, LR tower and HR ConvNeXt (tiny local folders) assemble and train."""

import torch
from transformers import AutoConfig, CLIPVisionModel, ConvNextModel, LlamaForCausalLM

from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.tiny import build_tiny_tokenizer
from minigemini.training import recipe_from_dict, run_training

from tiny_recipes import tiny_recipe


def _parts(root):
    tok = build_tiny_tokenizer()
    llm = LlamaForCausalLM(AutoConfig.for_model(
        "llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
    ))
    llm.save_pretrained(root / "llm")
    tok.save_pretrained(root / "llm")
    clip = CLIPVisionModel(AutoConfig.for_model(
        "clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
        image_size=28, patch_size=7,
    ))
    clip.save_pretrained(root / "clip")
    convnext = ConvNextModel(AutoConfig.for_model("convnext", hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 2, 1]))
    convnext.save_pretrained(root / "convnext")
    return llm, clip, convnext


def test_llm_and_towers_from_folders_assemble_train_and_reload(tiny_data, tmp_path):
    llm, clip, convnext = _parts(tmp_path)
    model = {"tiny": None, "llm": str(tmp_path / "llm"), "vision_tower": str(tmp_path / "clip"),
             "hr_tower": str(tmp_path / "convnext"), "aux_image_size": 64, "template": "vicuna_v1"}
    recipe = recipe_from_dict(tiny_recipe("instruct", tiny_data, model=model, train={"epochs": 1}))
    result = run_training(recipe, tmp_path / "run", progress=False)
    assert result.losses[-1] < result.losses[0]
    trained = MiniGeminiForConditionalGeneration.from_pretrained(result.final_dir)
    # frozen towers carry the pretrained weights unchanged; the LLM started from its folder and trained
    torch.testing.assert_close(trained.vision_tower.model.state_dict(), clip.state_dict())
    hr = {k.replace("encoder.stages.", "stages."): v for k, v in convnext.state_dict().items() if not k.startswith("layernorm")}
    torch.testing.assert_close(trained.aux_vision_tower.state_dict(), hr)
    assert trained.config.text_config.vocab_size == llm.config.vocab_size + 1  # <image> placeholder added


def test_random_hr_tower_and_fresh_glue_have_no_meta_weights_left(tmp_path):
    from minigemini.training.build import build_from_parts
    from minigemini.training.recipe import ModelSpec

    _parts(tmp_path)
    spec = ModelSpec(llm=str(tmp_path / "llm"), vision_tower=str(tmp_path / "clip"), hr_tower=None,
                     hr_tower_config={"hidden_sizes": [8, 16, 24, 32], "depths": [1, 1, 2, 1]}, aux_image_size=64)
    model, _ = build_from_parts(spec)
    assert not [n for n, p in model.named_parameters() if p.is_meta]
    assert model.projector[0].weight.std() > 0 and model.mining.key_projector[0].weight.eq(1).all()
