"""Lazy loading of any diffusers text-to-image pipeline, with a device/dtype policy."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

DEFAULT_PIPELINE = "stabilityai/stable-diffusion-xl-base-1.0"
"""The official MGM renderer (SDXL base 1.0)."""

_DTYPES = {
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp32": torch.float32,
    "float32": torch.float32,
    "float": torch.float32,
}


class PipelineUnavailableError(RuntimeError):
    """The text-to-image pipeline could not be found or loaded."""


def default_device() -> str:
    """`cuda` when a GPU is visible, else `mps` on Apple silicon, else `cpu`."""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(device: str, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """The pipeline dtype: `dtype` when given, else fp16 on CUDA/MPS (as officially) and fp32 on CPU.

    fp32 is the CPU default because half precision is slow or lossy on most CPUs; pass
    `dtype="bf16"` to halve memory on CPUs with bf16 support.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is not None:
        try:
            return _DTYPES[dtype.lower()]
        except KeyError:
            raise ValueError(f"Unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}.") from None
    return torch.float16 if torch.device(device).type in ("cuda", "mps") else torch.float32


def load_text2image_pipeline(
    source: str | Path,
    device: str,
    dtype: torch.dtype,
    variant: str | None = None,
) -> Any:
    """Load a hub id or local folder with `AutoPipelineForText2Image` (else `DiffusionPipeline`).

    Raises `PipelineUnavailableError` naming the pipeline and how to pass a local copy.
    """
    from diffusers import AutoPipelineForText2Image, DiffusionPipeline

    local = Path(source).expanduser()
    if local.exists() and not (local / "model_index.json").is_file():
        raise PipelineUnavailableError(
            f"'{local}' is not a diffusers pipeline folder (no model_index.json). Pass a folder "
            "written by `pipe.save_pretrained(DIR)` or `hf download <repo-id> --local-dir DIR`."
        )
    name = str(local) if local.exists() else str(source)
    kwargs: dict[str, Any] = {"torch_dtype": dtype, "variant": variant}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch_dtype.*deprecated", category=FutureWarning)
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(name, **kwargs)
            except ValueError as err:
                if variant is not None and "variant" in str(err):
                    raise PipelineUnavailableError(
                        f"'{name}' has no '{variant}' weight files; load it without a variant."
                    ) from err
                if "AutoPipeline" not in str(err):
                    raise
                pipe = DiffusionPipeline.from_pretrained(name, **kwargs)
    except OSError as err:
        raise PipelineUnavailableError(
            f"Cannot load the text-to-image pipeline '{name}': {err}\n"
            f"On an offline machine, download it where there is network "
            f"(`hf download {name} --local-dir DIR`), copy DIR here and pass DIR as the pipeline "
            "instead of the hub id."
        ) from err
    return pipe.to(device)
