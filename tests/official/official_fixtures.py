"""Tiny checkpoints in the official MGM layout, written the way the official code writes them.

`config.json` comes from tests/official/configs/, written by transformers 4.36.2 / 4.38.2 themselves
(scripts/official-configs.sh: the official `MGMConfig(LlamaConfig)`-style subclasses, the mm_* fields the
trainer sets, `to_json_string(use_diff=True)`), so keys equal to a default are absent exactly as in the
released files. Weights use the official names and the 4.36 layouts (Mixtral's `block_sparse_moe.experts.E.w1`),
bf16 shards with an index (`model-0000i-of-0000n.safetensors` or `pytorch_model-0000i-of-0000n.bin`), and
the towers sit in `model_zoo/...` folders relative to `root`. The LLM has head_dim 32.

Importable from any test folder: `from official.official_fixtures import write_official_checkpoint`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoConfig

from minigemini import MiniGeminiConfig, MiniGeminiForConditionalGeneration, MiniGeminiProcessor
from minigemini.tiny import build_tiny_tokenizer, tiny_config

CONFIGS = Path(__file__).parent / "configs"
CLIP_DIR = "model_zoo/OpenAI/clip-vit-large-patch14-336"
CONVNEXT_DIR = "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup"

# The LLM each config file describes, stated independently of the loader (family config values of the release).
FAMILIES = {
    "vicuna": dict(llm="llama", template="vicuna_v1", specials=[], pad=False,
                   text=dict(num_key_value_heads=2, rms_norm_eps=1e-5)),
    "llama3": dict(llm="llama", template="llama_3", pad=False,
                   specials=["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|reserved_special_token_0|>"],
                   text=dict(num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=500000.0)),
    "yi": dict(llm="llama", template="chatml_direct", specials=["<|im_start|>", "<|im_end|>"], pad=False,
               text=dict(num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=5000000.0)),
    "gemma": dict(llm="gemma", template="gemma", specials=["<start_of_turn>", "<end_of_turn>"], pad=True,
                  text=dict(num_key_value_heads=1, rms_norm_eps=1e-6, tie_word_embeddings=True)),
    "mixtral": dict(llm="mixtral", template="mistral_instruct", specials=["[INST]", "[/INST]"], pad=False,
                    text=dict(num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=1000000.0, num_local_experts=4,
                              num_experts_per_tok=2)),
}


@dataclass
class OfficialFixture:
    path: Path  # the checkpoint folder
    reference: MiniGeminiForConditionalGeneration  # the model whose weights were written
    processor: MiniGeminiProcessor  # its processor, built from the reference config


def official_name(key: str) -> str:
    """Our key -> the official MGM key (written independently of the loader's mapping)."""
    if key.startswith("language_model.lm_head."):
        return key[len("language_model."):]
    if key.startswith("language_model.model."):
        return key[len("language_model."):]
    if key.startswith("projector."):
        return "model.mm_projector." + key[len("projector."):]
    for ours, theirs in (("query", "query"), ("key", "aux"), ("value", "val")):
        if key.startswith(f"mining.{ours}_projector."):
            return f"model.vlm_uni_{theirs}_projector." + key[len(f"mining.{ours}_projector."):]
    if key.startswith("vision_tower.model."):
        return "model.vision_tower.vision_tower.vision_model." + key[len("vision_tower.model."):]
    if key.startswith("aux_vision_tower."):
        return "model.vision_tower_aux.vision_" + timm_name(key[len("aux_vision_tower."):])
    raise AssertionError(f"unmapped key {key}")


def timm_name(key: str) -> str:
    key = key.replace("embeddings.patch_embeddings.", "stem.0.").replace("embeddings.layernorm.", "stem.1.")
    key = key.replace("downsampling_layer.", "downsample.")
    key = re.sub(r"layers\.(\d+)\.", r"blocks.\1.", key)
    for ours, theirs in (("dwconv.", "conv_dw."), ("layernorm.", "norm."), ("pwconv1.", "mlp.fc1."),
                         ("pwconv2.", "mlp.fc2."), ("layer_scale_parameter", "gamma")):
        key = key.replace(ours, theirs)
    return key


def mixtral_436(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers 5's fused Mixtral experts -> the 4.36 per-expert layout the official checkpoints hold:
    `mlp.gate` -> `block_sparse_moe.gate`; `experts.gate_up_proj[e]` = [w1; w3]; `experts.down_proj[e]` = w2."""
    out = {}
    for key, value in state.items():
        prefix = key.rsplit(".mlp.", 1)[0] + ".block_sparse_moe."
        if key.endswith(".mlp.gate.weight"):
            out[prefix + "gate.weight"] = value
        elif key.endswith(".mlp.experts.gate_up_proj"):
            w1, w3 = value.chunk(2, dim=1)
            for e in range(value.shape[0]):
                out[f"{prefix}experts.{e}.w1.weight"], out[f"{prefix}experts.{e}.w3.weight"] = w1[e], w3[e]
        elif key.endswith(".mlp.experts.down_proj"):
            for e in range(value.shape[0]):
                out[f"{prefix}experts.{e}.w2.weight"] = value[e]
        else:
            out[key] = value
    return out


def official_tokenizer(family: str):
    """A tiny tokenizer with the family's template tokens; Llama-family official tokenizers have no pad token."""
    spec = FAMILIES[family]
    tok = build_tiny_tokenizer()
    if spec["specials"]:
        tok.add_special_tokens({"additional_special_tokens": spec["specials"]})
    if not spec["pad"]:
        tok.pad_token = None
    return tok


def official_raw_config(family: str, hd: bool, tok) -> dict:
    """The committed config.json of the family, with the tokenizer's vocabulary and special ids."""
    raw = json.loads((CONFIGS / f"{family}{'-hd' if hd else ''}.json").read_text())
    raw["vocab_size"] = len(tok)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if name in raw:
            raw[name] = getattr(tok, name)
    return raw


def reference_config(family: str, hd: bool, vocab_size: int, image_token_id: int, mining: bool,
                     select: str, max_length: int) -> MiniGeminiConfig:
    spec = FAMILIES[family]
    text = dict(spec["text"], hidden_size=64, intermediate_size=128, num_attention_heads=2, head_dim=32)
    return tiny_config(vocab_size, llm=spec["llm"], hd=hd, mining=mining, image_token_id=image_token_id,
                       text_config=text, template=spec["template"], tokenizer_model_max_length=max_length,
                       tie_word_embeddings=bool(spec["text"].get("tie_word_embeddings", False)),
                       vision_feature_select=select)


def _write_shards(state: dict[str, torch.Tensor], folder: Path, fmt: str, shards: int) -> None:
    names = sorted(state)
    weight_map, total = {}, 0
    for i in range(shards):
        part = {k: state[k].to(torch.bfloat16).contiguous() for k in names[i::shards]}
        if fmt == "safetensors":
            fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            save_file(part, folder / fname, metadata={"format": "pt"})
        else:
            fname = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
            torch.save(part, folder / fname)
        weight_map.update({k: fname for k in part})
        total += sum(v.numel() * v.element_size() for v in part.values())
    index = "model.safetensors.index.json" if fmt == "safetensors" else "pytorch_model.bin.index.json"
    (folder / index).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def write_official_checkpoint(root: str | Path, family: str = "vicuna", *, hd: bool = False, fmt: str = "safetensors",
                              shards: int = 2, towers_in_checkpoint: bool = True, mining: bool = True,
                              select: str = "patch", seed: int = 0, name: str | None = None) -> OfficialFixture:
    """Write `root/<name>` (official layout; default `MGM-<family>[-HD]`) and `root/model_zoo/...` (tower folders).

    `mining=False` drops the HR tower (no `mm_vision_tower_aux`), `select="cls_patch"` keeps CLIP's CLS token.
    Weights are bf16-exact, so a float32 load equals the reference bit for bit.
    """
    root = Path(root)
    ckpt = root / (name or f"MGM-{family}{'-HD' if hd else ''}")
    ckpt.mkdir(parents=True)
    tok = official_tokenizer(family)
    tok.save_pretrained(ckpt)  # as released: no <image> token in the vocabulary
    raw = official_raw_config(family, hd, tok)
    if not mining:
        raw.pop("mm_vision_tower_aux")
        raw.pop("mm_hidden_size_aux")
    raw["mm_vision_select_feature"] = select
    (ckpt / "config.json").write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n")

    config = reference_config(family, hd, len(tok), len(tok), mining, select, raw["tokenizer_model_max_length"])
    torch.manual_seed(seed)
    reference = MiniGeminiForConditionalGeneration(config).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    state = {official_name(k): v for k, v in reference.state_dict().items() if not k.endswith("embed_scale")}
    if config.tie_word_embeddings:
        state.pop("lm_head.weight")  # tied: transformers saves only the embedding
    if FAMILIES[family]["llm"] == "mixtral":
        state = mixtral_436(state)
    if not towers_in_checkpoint:
        state = {k: v for k, v in state.items() if not k.startswith("model.vision_tower")}
    _write_shards(state, ckpt, fmt, shards)

    clip_dir, cnx_dir = root / CLIP_DIR, root / CONVNEXT_DIR
    # The towers' own folders, as the official scripts expect them (one fixture per root: they are overwritten).
    config.vision_config.save_pretrained(clip_dir)
    lr = {"vision_model." + k[len("vision_tower.model."):]: v.contiguous()
          for k, v in reference.state_dict().items() if k.startswith("vision_tower.model.")}
    save_file(lr, clip_dir / "model.safetensors")
    if mining:
        cnx_dir.mkdir(parents=True, exist_ok=True)
        hr = {"visual.trunk." + timm_name(k[len("aux_vision_tower."):]): v
              for k, v in reference.state_dict().items() if k.startswith("aux_vision_tower.")}
        torch.save(hr, cnx_dir / "open_clip_pytorch_model.bin")
    processor = MiniGeminiProcessor.from_config(official_tokenizer(family), config)
    return OfficialFixture(ckpt, reference, processor)


def text_config_default(family: str, name: str):
    """What the family's config class uses for `name` when config.json lacks it."""
    return getattr(AutoConfig.for_model(FAMILIES[family]["llm"]), name)
