"""The two vision towers of an official checkpoint: where their weights live and their geometry.

Official configs name towers by relative paths (`model_zoo/OpenAI/clip-vit-large-patch14-336`); the
checkpoint usually holds both towers' weights anyway. Geometry comes from tensor shapes alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from transformers import CLIPVisionConfig, ConvNextConfig

from .fields import CheckpointError
from .keys import HR_TOWER, LR_TOWER, clip_tower_key, open_clip_tower_key
from .shards import shard_files

KNOWN_TOWER_IDS = {
    "clip-vit-large-patch14-336": "openai/clip-vit-large-patch14-336",
    "openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup": "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup",
}

Shapes = Mapping[str, tuple[int, ...]]


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
    return KNOWN_TOWER_IDS.get(Path(name).name)


def local_tower(location: str, kind: str) -> Path:
    """A tower folder on disk: `location` itself, or a snapshot of the hub id it names."""
    path = Path(location)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(location))
    except Exception as err:  # offline, gated, or missing
        raise CheckpointError(
            f"The {kind} tower {location!r} is not in the checkpoint and could not be fetched ({type(err).__name__}). "
            f"Download it and pass its folder with --{kind}-tower PATH (or place it at that relative path)."
        ) from None


def tower_files(folder: Path, kind: str) -> tuple[list[Path], object]:
    """The weight files of a tower folder and the function that renames their keys to ours."""
    if kind == "lr":
        return shard_files(folder), clip_tower_key
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        if (folder / name).exists():
            return [folder / name], open_clip_tower_key
    raise CheckpointError(f"{folder}: no open_clip_pytorch_model.bin or open_clip_model.safetensors for the HR tower.")


def clip_config_from_shapes(shapes: Shapes) -> CLIPVisionConfig:
    """CLIP ViT geometry from its tensor shapes (heads assume the standard 64-wide heads)."""
    hidden, _, patch, _ = shapes[LR_TOWER + "embeddings.patch_embedding.weight"]
    positions = shapes[LR_TOWER + "embeddings.position_embedding.weight"][0]
    grid = int(round((positions - 1) ** 0.5))
    pattern = re.compile(re.escape(LR_TOWER) + r"encoder\.layers\.(\d+)\.")
    layers = 1 + max(int(m.group(1)) for k in shapes if (m := pattern.match(k)))
    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=shapes[LR_TOWER + "encoder.layers.0.mlp.fc1.weight"][0],
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        patch_size=patch,
        image_size=grid * patch,
        hidden_act="quick_gelu",
    )


def convnext_config_from_shapes(shapes: Shapes) -> ConvNextConfig:
    """ConvNeXt widths and depths from its tensor shapes (open_clip's drop path 0.1)."""
    depths, dims = [], []
    for stage in range(4):
        pattern = re.compile(rf"{re.escape(HR_TOWER)}stages\.{stage}\.layers\.(\d+)\.")
        blocks = {int(m.group(1)) for k in shapes if (m := pattern.match(k))}
        if not blocks:
            break
        depths.append(max(blocks) + 1)
        dims.append(shapes[f"{HR_TOWER}stages.{stage}.layers.0.dwconv.weight"][0])
    patch = shapes[HR_TOWER + "embeddings.patch_embeddings.weight"][-1]
    return ConvNextConfig(hidden_sizes=dims, depths=depths, patch_size=patch, drop_path_rate=0.1, layer_scale_init_value=1e-6)
