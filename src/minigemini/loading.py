"""Loading a model and its processor for inference, shared by chat, serve and web."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

DTYPES = {"auto": None, "fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}


QUANTIZE = ("none", "int8")


def load_model(model: str, device: str = "cpu", dtype: str | None = "auto", load_4bit: bool = False,
               load_8bit: bool = False, quantize: str | None = None):
    """Load (model, processor) from our folder / hub id / an official MGM folder; `tiny` builds a random tiny model.

    dtype `auto` picks the fastest accurate format for `device` (`quantization.auto_dtype`: bf16 on GPUs
    and AMX CPUs, fp32 on other CPUs); `quantize="int8"` makes the Linear layers int8 (CPU, from fp32).
    """
    import torch

    from .quantization import auto_dtype, quantize_int8

    dtype = dtype or "auto"
    quantize = quantize or "none"
    if quantize not in QUANTIZE:
        raise ValueError(f"--quantize must be one of {', '.join(QUANTIZE)}")
    if load_4bit or load_8bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ValueError("--load-4bit/--load-8bit need bitsandbytes: pip install bitsandbytes") from None
        if not torch.cuda.is_available():
            raise ValueError("--load-4bit/--load-8bit need a CUDA GPU (bitsandbytes kernels); use --dtype bf16 on CPU.")
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}")
    if quantize == "int8" and (load_4bit or load_8bit):
        raise ValueError("--quantize int8 is the CPU path; --load-4bit/--load-8bit are bitsandbytes' GPU path: pick one.")
    malloc_returns_large_blocks()
    if dtype == "auto":
        torch_dtype = torch.float32 if quantize == "int8" else auto_dtype(device)
    else:
        torch_dtype = getattr(torch, DTYPES[dtype])
    if model == "tiny":
        from .tiny import build_tiny_model_and_processor

        m, p = build_tiny_model_and_processor()
    else:
        from .modeling import MiniGeminiForConditionalGeneration
        from .processing import MiniGeminiProcessor

        kwargs = {"torch_dtype": torch_dtype}
        if load_4bit or load_8bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=load_4bit, load_in_8bit=load_8bit,
                                                               bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
        m = MiniGeminiForConditionalGeneration.from_pretrained(model, **kwargs)
        p = MiniGeminiProcessor.from_pretrained(model)
    m = (m.to(device) if load_4bit or load_8bit else m.to(device, torch_dtype)).eval()  # bnb keeps its formats
    if quantize == "int8":
        quantize_int8(m, checkpoint_tensors(Path(model)) if model != "tiny" else None)
    return m, p


def malloc_returns_large_blocks(threshold: int = 1 << 20) -> None:
    """glibc: serve blocks of `threshold` bytes and more by mmap, so freeing them returns them to the system.

    By default glibc raises that threshold each time such a block is freed (up to 32 MiB), then keeps freed
    weights and activations in its heap: measured +0.8 GiB peak RSS with `--quantize int8` and +0.25 GiB in
    fp32 on a real-size answer (docs/performance.md). A no-op on other C libraries."""
    import ctypes
    import platform

    if platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(None).mallopt(-3, threshold)  # -3: M_MMAP_THRESHOLD (malloc.h); also stops the raising


def checkpoint_tensors(folder: Path) -> Callable[[str], "torch.Tensor"] | None:
    """For a folder of our safetensors files: `name -> tensor name in fp32`, each read through a memory map of
    its own, released on return, so the model's own map of the files is not paged in for weights about to be
    replaced (`quantize_int8`). None for anything else (hub ids, official folders, `.bin` files)."""
    import torch
    from safetensors import safe_open

    from .official import is_official_checkpoint
    from .official.fields import CheckpointError
    from .official.shards import shard_files

    if not folder.is_dir() or is_official_checkpoint(folder):
        return None
    try:
        files = shard_files(folder)
    except CheckpointError:
        return None
    if any(file.suffix != ".safetensors" for file in files):
        return None
    where = {}
    for file in files:
        with safe_open(file, framework="pt") as f:
            where.update(dict.fromkeys(f.keys(), file))

    def read(name: str) -> torch.Tensor:
        with safe_open(where[name], framework="pt") as f:
            return f.get_tensor(name).to(torch.float32, copy=True)  # a copy: the map goes with `f`

    return read
