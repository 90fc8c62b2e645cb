"""LoRA on the LLM (projector and mining train fully): save, load, merge; QLoRA refuses CPU clearly."""

import pytest
import torch
from typer.testing import CliRunner

from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.training import load_lora_model, run_training
from minigemini.training.build import build_model_and_processor
from minigemini.training.cli import app
from minigemini.training.lora import QLoRAUnavailable
from minigemini.training.recipe import recipe_from_dict

from tiny_recipes import tiny_recipe


@pytest.fixture(scope="module")
def lora_run(tiny_data, tmp_path_factory):
    recipe = recipe_from_dict(tiny_recipe("instruct", tiny_data, lora={"enabled": True, "r": 8, "alpha": 16}))
    return recipe, run_training(recipe, tmp_path_factory.mktemp("lora"), progress=False)


def _batch(processor):
    from PIL import Image

    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}])
    return processor(prompt, images=[Image.new("RGB", (64, 64), (200, 30, 30))])


def test_lora_trains_adapters_projector_and_mining_but_not_base_llm(lora_run):
    recipe, result = lora_run
    assert result.losses[-1] < result.losses[0]
    start, _ = build_model_and_processor(recipe.model)
    peft_model, _ = load_lora_model(result.lora_dir)
    base = peft_model.get_base_model().state_dict()
    for name, value in start.state_dict().items():
        lora_name = name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        trained = base.get(name, base.get(lora_name))
        moved = not torch.equal(value, trained)
        assert moved == name.startswith(("projector.", "mining.")), name
    assert any("lora_B" in n and v.abs().sum() > 0 for n, v in base.items())


def test_merged_model_outputs_equal_the_model_with_the_adapter_attached(lora_run, tmp_path):
    _, result = lora_run
    peft_model, processor = load_lora_model(result.lora_dir)
    out = CliRunner().invoke(app, ["merge-lora", str(result.lora_dir), str(tmp_path / "merged")])
    assert out.exit_code == 0, out.output
    merged = MiniGeminiForConditionalGeneration.from_pretrained(tmp_path / "merged").eval()
    batch = _batch(processor)
    with torch.no_grad():
        expected = peft_model(**batch).logits
        got = merged(**batch).logits
        final = MiniGeminiForConditionalGeneration.from_pretrained(result.final_dir).eval()(**batch).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)  # W+BA vs Wx+BAx: fp32 reordering only
    torch.testing.assert_close(final, expected, atol=1e-4, rtol=1e-4)  # the run's final/ is the merged model


def test_qlora_on_cpu_fails_fast_with_the_fix(tiny_data, tmp_path):
    recipe = recipe_from_dict(tiny_recipe("instruct", tiny_data, lora={"enabled": True, "quantize": 4}))
    if torch.cuda.is_available():
        pytest.skip("CUDA present: QLoRA may legitimately run here")
    with pytest.raises(QLoRAUnavailable, match="needs a CUDA GPU"):
        run_training(recipe, tmp_path, progress=False)
