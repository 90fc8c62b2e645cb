"""Write the `config.json` of tiny official-layout MGM fixtures with the transformers that wrote the real ones.

Run by scripts/official-configs.sh under transformers 4.36.2 (mgm, mgm_mixtral) and 4.38.2 (mgm_gemma): the
official classes subclass the family config (`class MGMConfig(LlamaConfig): model_type = "mgm"`), the trainer
sets the mm_* fields on it, and `save_pretrained` writes `to_json_string(use_diff=True)`. Sizes are tiny;
vocab and special-token ids are set by the test from its tokenizer. Output: tests/official/configs/<name>.json.
"""

import sys
from pathlib import Path

import transformers

OUT = Path(__file__).resolve().parent.parent / "tests" / "official" / "configs"
CLIP, CONVNEXT = "model_zoo/OpenAI/clip-vit-large-patch14-336", "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup"
TINY = dict(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)
FAMILIES = {  # name: (config class, model_type, architecture, family fields as the released models set them)
    "vicuna": ("LlamaConfig", "mgm", "MGMLlamaForCausalLM", dict(num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-5)),
    "llama3": ("LlamaConfig", "mgm", "MGMLlamaForCausalLM", dict(num_key_value_heads=1, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0)),
    "yi": ("LlamaConfig", "mgm", "MGMLlamaForCausalLM", dict(num_key_value_heads=1, max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=5000000.0)),
    "gemma": ("GemmaConfig", "mgm_gemma", "MGMGemmaForCausalLM", dict(num_key_value_heads=1, head_dim=32, max_position_embeddings=8192)),
    "mixtral": ("MixtralConfig", "mgm_mixtral", "MGMMixtralForCausalLM", dict(num_key_value_heads=1, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=32768, rope_theta=1000000.0)),
}


def write(name: str, hd: bool) -> None:
    base, model_type, arch, fields = FAMILIES[name]
    config_class = type("Config", (getattr(transformers, base),), {"model_type": model_type})
    config = config_class(**TINY, **fields)
    config.architectures = [arch]
    config.torch_dtype = "bfloat16"
    # What train.py / initialize_vision_modules / initialize_uni_modules set (tiny towers: CLIP 32-d, ConvNeXt 8+16+24+32).
    mm = dict(
        mm_vision_tower=CLIP, mm_vision_tower_aux=CONVNEXT, mm_hidden_size=32, mm_hidden_size_aux=80, use_mm_proj=True,
        mm_projector_type="mlp2x_gelu", mm_vision_select_layer=-2, mm_vision_select_feature="patch",
        image_size_aux=128 if hd else 64, optimize_vision_tower=False, optimize_vision_tower_aux=False,
        image_grid=2 if hd else 1, image_global=hd, image_aspect_ratio="pad", image_grid_pinpoints=None,
        tokenizer_padding_side="right", tokenizer_model_max_length=4096 if hd else 2048, tune_mm_mlp_adapter=False,
        freeze_mm_mlp_adapter=False, mm_projector_lr=None, mm_use_im_start_end=False, mm_use_im_patch_token=False,
    )
    for key, value in mm.items():
        setattr(config, key, value)
    (OUT / f"{name}{'-hd' if hd else ''}.json").write_text(config.to_json_string(use_diff=True))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for family in sys.argv[1:]:
        for hd in (False, True):
            write(family, hd)
