"""Loading official MGM checkpoints (YanweiLi/MGM-*) into our model, and converting them to our format.

Official folders hold a Llama/Gemma/Mixtral config with `mm_*` fields, bf16 shards with an index, and
relative tower paths such as `model_zoo/OpenAI/clip-vit-large-patch14-336`. We read every weight in one
pass (safetensors, or `.bin` with `weights_only=True`), rename keys to ours, and infer the tower
architectures from the weights themselves; tower folders are needed only when the checkpoint lacks them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer, CLIPVisionConfig, ConvNextConfig

from .configuration import MiniGeminiConfig
from .constants import IMAGE_TOKEN

OFFICIAL_LLM_TYPES = {
    "mgm": "llama",
    "mgm_gemma": "gemma",
    "mgm_mixtral": "mixtral",
    "mgm_mistral": "mistral",
    "mini_gemini": "llama",
    "mini_gemini_gemma": "gemma",
    "mini_gemini_mixtral": "mixtral",
    "mini_gemini_mistral": "mistral",
}

KNOWN_TOWER_IDS = {
    "clip-vit-large-patch14-336": "openai/clip-vit-large-patch14-336",
    "openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup": "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup",
}

_MM_FIELDS = re.compile(r"^(mm_|image_|vision_|optimize_|tune_|freeze_|use_mm_proj|tokenizer_|architectures$|model_type$)")


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says what is missing and how to supply it."""


# ---- reading ---------------------------------------------------------------------------------------
def read_config(path: Path) -> dict:
    cfg = path / "config.json"
    if not cfg.exists():
        raise CheckpointError(f"{path}: no config.json. Pass a checkpoint folder (ours or an official MGM one).")
    return json.loads(cfg.read_text())


def is_official_checkpoint(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "config.json").exists() and read_config(path).get("model_type") in OFFICIAL_LLM_TYPES


def local_checkpoint(name_or_path: str | os.PathLike) -> Path | None:
    """A local folder for `name_or_path`: the folder itself, or, for a hub id whose config says it is an
    official MGM checkpoint, a snapshot download of it (None for other hub ids: transformers handles those)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.is_absolute() or str(name_or_path).count("/") != 1:
        return None
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        config = json.loads(Path(hf_hub_download(str(name_or_path), "config.json")).read_text())
    except Exception:  # offline, missing or gated: let transformers report it in its own words
        return None
    if config.get("model_type") not in OFFICIAL_LLM_TYPES:
        return None
    return Path(snapshot_download(str(name_or_path), allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.bin"]))


def check_model_type(path: str | os.PathLike) -> None:
    """Refuse a local folder that is neither ours nor an official MGM checkpoint, before building anything."""
    path = Path(path)
    if not (path / "config.json").exists():
        return
    model_type = read_config(path).get("model_type")
    if model_type != MiniGeminiConfig.model_type and model_type not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(
            f"{path}: model_type {model_type!r} is neither 'minigemini' nor an official MGM type "
            f"({', '.join(sorted(OFFICIAL_LLM_TYPES))}). Point --model at a Mini-Gemini checkpoint."
        )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a folder: sharded or single safetensors, else `.bin` read with `weights_only=True`."""
    from safetensors.torch import load_file

    for index_name, single in (("model.safetensors.index.json", "model.safetensors"), ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        index = path / index_name
        files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else []
        if not files and (path / single).exists():
            files = [single]
        if files:
            state: dict[str, torch.Tensor] = {}
            for name in files:
                f = path / name
                if not f.exists():
                    raise CheckpointError(f"{path}: shard {name} listed in {index_name} is missing. Re-download the checkpoint.")
                state.update(load_file(f) if name.endswith(".safetensors") else torch.load(f, map_location="cpu", weights_only=True))
            return state
    raise CheckpointError(f"{path}: no model.safetensors(.index.json) or pytorch_model.bin(.index.json) found.")


def _peek_tensor(path: Path, key: str) -> torch.Tensor | None:
    """One tensor of a safetensors checkpoint, read without loading the rest (None if absent)."""
    from safetensors import safe_open

    index = path / "model.safetensors.index.json"
    if index.exists():
        shard = json.loads(index.read_text())["weight_map"].get(key)
    else:
        shard = "model.safetensors" if (path / "model.safetensors").exists() else None
    if shard is None:
        return None
    with safe_open(path / shard, framework="pt") as f:
        return f.get_tensor(key) if key in f.keys() else None


# ---- key names ---------------------------------------------------------------------------------------
_CONVNEXT_RULES = [
    (r"stem\.0\.", "embeddings.patch_embeddings."),
    (r"stem\.1\.", "embeddings.layernorm."),
    (r"stages\.(\d+)\.downsample\.(\d)\.", r"stages.\1.downsampling_layer.\2."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.", r"stages.\1.layers.\2.dwconv."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.norm\.", r"stages.\1.layers.\2.layernorm."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.", r"stages.\1.layers.\2.pwconv1."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.", r"stages.\1.layers.\2.pwconv2."),
    (r"stages\.(\d+)\.blocks\.(\d+)\.gamma$", r"stages.\1.layers.\2.layer_scale_parameter"),
]


def convnext_key(timm_key: str) -> str | None:
    """timm/open_clip ConvNeXt trunk key (`stem.0.weight`, `stages.2.blocks.5.mlp.fc1.bias`) -> our HR tower key."""
    for pattern, repl in _CONVNEXT_RULES:
        new, n = re.subn("^" + pattern, repl, timm_key)
        if n:
            return "aux_vision_tower." + new
    return None


def official_key(key: str) -> str | None:
    """Official MGM state-dict key -> ours (None for keys we do not use)."""
    simple = {
        "model.mm_projector.": "projector.",
        "model.vlm_uni_query_projector.": "mining.query_projector.",
        "model.vlm_uni_aux_projector.": "mining.key_projector.",
        "model.vlm_uni_val_projector.": "mining.value_projector.",
        "model.vision_tower.vision_tower.vision_model.": "vision_tower.model.",
        "lm_head.": "language_model.lm_head.",
    }
    for old, new in simple.items():
        if key.startswith(old):
            return new + key[len(old) :]
    if key.startswith("model.vision_tower_aux.vision_"):
        return convnext_key(key[len("model.vision_tower_aux.vision_") :])
    if key.startswith("model.vision_tower") or key.startswith("model.vision_fpn"):
        return None
    if key.startswith("model."):
        return "language_model." + key
    return None


# ---- tower architectures -----------------------------------------------------------------------------
def clip_config_from_weights(state: dict[str, torch.Tensor], prefix: str = "vision_tower.model.") -> CLIPVisionConfig:
    """CLIP ViT geometry from its weights (heads assume the standard 64-wide heads)."""
    patch = state[prefix + "embeddings.patch_embedding.weight"]
    pos = state[prefix + "embeddings.position_embedding.weight"]
    hidden, _, p, _ = patch.shape
    grid = int(round((pos.shape[0] - 1) ** 0.5))
    layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"encoder\.layers\.(\d+)\.", k)))
    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=state[prefix + "encoder.layers.0.mlp.fc1.weight"].shape[0],
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        patch_size=p,
        image_size=grid * p,
        hidden_act="quick_gelu",
    )


def convnext_config_from_weights(state: dict[str, torch.Tensor]) -> ConvNextConfig:
    """ConvNeXt widths and depths from its weights (open_clip's drop path 0.1)."""
    depths, dims = [], []
    for s in range(4):
        blocks = {int(m.group(1)) for k in state if (m := re.match(rf"aux_vision_tower\.stages\.{s}\.layers\.(\d+)\.", k))}
        if not blocks:
            break
        depths.append(max(blocks) + 1)
        dims.append(state[f"aux_vision_tower.stages.{s}.layers.0.dwconv.weight"].shape[0])
    patch = state["aux_vision_tower.embeddings.patch_embeddings.weight"].shape[-1]
    return ConvNextConfig(hidden_sizes=dims, depths=depths, patch_size=patch, drop_path_rate=0.1, layer_scale_init_value=1e-6)


def resolve_tower(name: str | None, checkpoint: Path, override: str | None) -> str | None:
    """Where a tower lives: an explicit override wins; then the path as given, relative to the working
    directory, relative to the checkpoint folder; then the hub id of a known official tower name."""
    if override:
        return override
    if not name:
        return None
    for candidate in (Path(name), Path.cwd() / name, checkpoint / name):
        if candidate.is_dir():
            return str(candidate)
    base = Path(name).name
    return KNOWN_TOWER_IDS.get(base, None)


def _tower_weights(location: str, kind: str) -> dict[str, torch.Tensor]:
    """Read a tower folder (HF CLIP, or open_clip's `open_clip_pytorch_model.bin`) into our key names."""
    path = Path(location)
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        try:
            path = Path(snapshot_download(location))
        except Exception as err:  # offline, gated, or missing
            raise CheckpointError(
                f"The {kind} tower {location!r} is not in the checkpoint and could not be fetched ({type(err).__name__}). "
                f"Download it and pass its folder with --{kind}-tower PATH (or place it at that relative path)."
            ) from None
    if kind == "lr":
        state = load_state_dict(path)
        return {"vision_tower.model." + k[len("vision_model.") :]: v for k, v in state.items() if k.startswith("vision_model.")}
    bin_file = path / "open_clip_pytorch_model.bin"
    st_file = path / "open_clip_model.safetensors"
    if st_file.exists():
        from safetensors.torch import load_file

        raw = load_file(st_file)
    elif bin_file.exists():
        raw = torch.load(bin_file, map_location="cpu", weights_only=True)
    else:
        raise CheckpointError(f"{path}: no open_clip_pytorch_model.bin or open_clip_model.safetensors for the HR tower.")
    out = {}
    for k, v in raw.items():
        if k.startswith("visual.trunk.") and (new := convnext_key(k[len("visual.trunk.") :])):
            out[new] = v
    return out


# ---- the loader ------------------------------------------------------------------------------------
def lr_tower_config(raw: dict, state: dict[str, torch.Tensor], checkpoint: Path, override: str | None) -> CLIPVisionConfig:
    """The LR tower's config from its resolved local folder when there is one, else inferred from the weights."""
    loc = resolve_tower(raw.get("mm_vision_tower"), checkpoint, override)
    if loc and (Path(loc) / "config.json").exists():
        return CLIPVisionConfig.from_pretrained(loc)
    return clip_config_from_weights(state)


def official_config(raw: dict, state: dict[str, torch.Tensor], image_token_id: int, template: str,
                    vision_config: CLIPVisionConfig) -> MiniGeminiConfig:
    llm_type = OFFICIAL_LLM_TYPES[raw["model_type"]]
    text = {k: v for k, v in raw.items() if not _MM_FIELDS.match(k) and not k.startswith("_")}
    text_config = AutoConfig.for_model(llm_type, **text)
    aux = raw.get("mm_vision_tower_aux")
    mining = aux is not None and any(k.startswith("mining.") for k in state)
    return MiniGeminiConfig(
        text_config=text_config,
        vision_config=vision_config,
        aux_vision_config=convnext_config_from_weights(state) if mining else None,
        vision_feature_layer=raw.get("mm_vision_select_layer", -2),
        vision_feature_select="cls_patch" if raw.get("mm_vision_select_feature") == "cls_patch" else "patch",
        aux_image_size=raw.get("image_size_aux", 768),
        image_grid=raw.get("image_grid", 1),
        image_global=bool(raw.get("image_global", False)),
        image_aspect_ratio="pad" if raw.get("image_aspect_ratio", "pad") == "pad" else "square",
        projector_type=raw.get("mm_projector_type", "mlp2x_gelu"),
        mining=mining,
        image_token_id=image_token_id,
        tokenizer_model_max_length=raw.get("tokenizer_model_max_length") or raw.get("max_sequence_length") or 2048,
        template=template,
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
    )


def _official_tokenizer(path: Path):
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:  # official: unk for Llama/Mixtral/Yi, a reserved token for LLaMA-3
        reserved = "<|reserved_special_token_0|>"
        tok.pad_token = tok.unk_token or (reserved if reserved in tok.get_vocab() else tok.eos_token)
    image_token_id = tok.get_vocab().get(IMAGE_TOKEN, len(tok))
    return tok, image_token_id


def load_official_model(path: str | os.PathLike, *, lr_tower: str | None = None, hr_tower: str | None = None,
                        template: str | None = None, torch_dtype: torch.dtype | None = None):
    """Build our model from an official MGM folder; towers come from the checkpoint, else from resolved folders."""
    from .modeling import MiniGeminiForConditionalGeneration
    from .templates import infer_template

    path = Path(path)
    raw = read_config(path)
    if raw.get("model_type") not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(
            f"{path}: model_type {raw.get('model_type')!r} is not an MGM type; expected one of {sorted(OFFICIAL_LLM_TYPES)}."
        )
    state = {new: v for k, v in load_state_dict(path).items() if (new := official_key(k))}
    if not any(k.startswith("vision_tower.") for k in state):
        loc = resolve_tower(raw.get("mm_vision_tower"), path, lr_tower)
        if loc is None:
            raise CheckpointError(f"{path}: the LR vision tower is neither in the checkpoint nor given; pass --lr-tower PATH.")
        state.update(_tower_weights(loc, "lr"))
    if raw.get("mm_vision_tower_aux") and not any(k.startswith("aux_vision_tower.") for k in state):
        loc = resolve_tower(raw.get("mm_vision_tower_aux"), path, hr_tower)
        if loc is None:
            raise CheckpointError(f"{path}: the HR tower is neither in the checkpoint nor given; pass --hr-tower PATH.")
        state.update(_tower_weights(loc, "hr"))
    tok, image_token_id = _official_tokenizer(path)
    name = template or infer_template(raw["model_type"], OFFICIAL_LLM_TYPES[raw["model_type"]], tok)
    config = official_config(raw, state, image_token_id, name, lr_tower_config(raw, state, path, lr_tower))
    model = MiniGeminiForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("embed_scale")]
    if config.tie_word_embeddings:
        missing = [k for k in missing if k != "language_model.lm_head.weight"]
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the inferred architecture; missing {missing[:5]}, unexpected {unexpected[:5]}.")
    if config.tie_word_embeddings:
        model.language_model.tie_weights()
    if torch_dtype is not None:
        model = model.to(torch_dtype)
    return model.eval()


def official_processor(path: str | os.PathLike, template: str | None = None, **_):
    """The processor for an official folder: official preprocessing geometry and the inferred template."""
    from .image_processing import MiniGeminiImageProcessor
    from .processing import MiniGeminiProcessor
    from .templates import infer_template

    path = Path(path)
    raw = read_config(path)
    if raw.get("model_type") not in OFFICIAL_LLM_TYPES:
        raise CheckpointError(f"{path}: no processor_config.json and not an official MGM folder (model_type {raw.get('model_type')!r}).")
    tok, _ = _official_tokenizer(path)
    pos = _peek_tensor(path, "model.vision_tower.vision_tower.vision_model.embeddings.position_embedding.weight")
    patch = _peek_tensor(path, "model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight")
    if pos is not None and patch is not None:
        lr = CLIPVisionConfig(patch_size=patch.shape[-1], image_size=int(round((pos.shape[0] - 1) ** 0.5)) * patch.shape[-1])
    else:
        lr = CLIPVisionConfig(image_size=336, patch_size=14)
    grid = raw.get("image_grid", 1)
    tokens = (lr.image_size // lr.patch_size) ** 2 * (grid**2 + (1 if raw.get("image_global") else 0))
    return MiniGeminiProcessor(
        tok,
        MiniGeminiImageProcessor(
            image_size=lr.image_size,
            aux_image_size=raw.get("image_size_aux", 768),
            image_grid=grid,
            image_global=bool(raw.get("image_global", False)),
            aspect_ratio="pad" if raw.get("image_aspect_ratio", "pad") == "pad" else "square",
            with_aux=bool(raw.get("mm_vision_tower_aux")),
        ),
        image_seq_length=tokens,
        template=template or infer_template(raw["model_type"], OFFICIAL_LLM_TYPES[raw["model_type"]], tok),
        model_max_length=raw.get("tokenizer_model_max_length") or 2048,
    )


def convert_official(src: str | os.PathLike, dst: str | os.PathLike, **kwargs) -> Path:
    """`minigemini convert`: an official folder -> our self-contained folder (safetensors, configs, processor)."""
    model = load_official_model(src, **{k: v for k, v in kwargs.items() if k in ("lr_tower", "hr_tower", "template", "torch_dtype")})
    processor = official_processor(src, template=model.config.template)
    dst = Path(dst)
    model.save_pretrained(dst)
    processor.save_pretrained(dst)
    return dst
