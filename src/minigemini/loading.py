"""Loading a model and its processor for inference, shared by chat, serve and web."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DTYPES = {"auto": None, "fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}


QUANTIZE = ("none", "int8")
DTYPE_HELP = "auto (bf16 on GPUs and on CPUs where it measures faster, else fp32), fp32, bf16 or fp16."
QUANTIZE_HELP = "int8: int8 Linear layers in the towers and projector, fp16 weights in the LLM: the fast CPU path."


def load_model(model: str, device: str = "cpu", dtype: str | None = "auto", load_4bit: bool = False,
               load_8bit: bool = False, quantize: str | None = None):
    """Load (model, processor) from our folder / hub id / an official MGM folder; `tiny` builds a random tiny model.

    dtype `auto` picks the fastest accurate format for `device` (`quantization.auto_dtype`: bf16 on GPUs and
    on CPUs where a bf16 matmul measures clearly faster than fp32, else fp32); `quantize="int8"` makes the
    towers' and projector's Linear layers int8 and gives the LLM's fp16 weights (CPU, from fp32). Without it, an
    fp32 model on CPU multiplies its LLM's Linear layers through oneDNN (`quantization.inference_layers`).
    """
    import torch

    from .quantization import auto_dtype

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
    if dtype == "auto":
        torch_dtype = torch.float32 if quantize == "int8" else auto_dtype(device)
    else:
        torch_dtype = getattr(torch, DTYPES[dtype])
    with allocator_around_loading():
        return _load(model, device, torch_dtype, load_4bit, load_8bit, quantize)


def _load(model: str, device: str, torch_dtype, load_4bit: bool, load_8bit: bool, quantize: str):
    """`load_model` once its arguments are checked and the dtype resolved."""
    from .quantization import inference_layers

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
    inference_layers(m, quantize, checkpoint_tensors(Path(model)) if quantize == "int8" and model != "tiny" else None)
    return m, p


@contextmanager
def allocator_around_loading(during: int = 1 << 20, kept_free: int = 64 << 20) -> Iterator[None]:
    """glibc's allocator around loading, and for the answers after it (docs/performance.md, "Memory").

    While loading, blocks of `during` bytes and more come from mmap, so the weights that conversion and
    `quantize_int8` free go back to the system instead of staying in the heap (measured peak RSS, normal, int8:
    2.49 -> about 2.0 GiB). Afterwards `malloc_trim` hands back what loading left free, and every block comes
    from the heap (no mmap), which keeps up to `kept_free` bytes free at its top: activations freed while
    answering are reused by the next ones instead of being unmapped and page-faulted afresh. (Keeping 1 MiB
    made every activation a fresh mapping: +2.4-2.8 s on a 10 s fp32 answer; glibc's 32 MiB ceiling still
    did for HD's 113-453 MB maps: HD int8 answer 20.1 -> 18.1 s without mmap.) A no-op on other C libraries.
    """
    import ctypes
    import platform

    libc = ctypes.CDLL(None) if platform.libc_ver()[0] == "glibc" else None
    if libc is not None:
        libc.mallopt(-4, 65536)  # -4: M_MMAP_MAX, glibc's default again (an earlier load set it to 0)
        libc.mallopt(-3, during)  # -3: M_MMAP_THRESHOLD (malloc.h); setting it also stops glibc moving it
    try:
        yield
    finally:
        if libc is not None:
            libc.malloc_trim(0)
            libc.mallopt(-4, 0)  # -4: M_MMAP_MAX, the number of mmap'd blocks at once: none from now on
            libc.mallopt(-1, kept_free)  # -1: M_TRIM_THRESHOLD


def checkpoint_tensors(folder: Path) -> Callable[[str], "torch.Tensor"] | None:
    """For a folder of our safetensors files: `name -> tensor name in fp32`, each backed by a memory map of its
    own (fp32 files: no copy), unmapped when the tensor is freed, so the model's own map of the files is not paged
    in for weights about to be replaced (`quantize_int8`). None for anything else (hub ids, official folders,
    `.bin` files)."""
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
            return f.get_tensor(name).to(torch.float32)  # the tensor keeps its own map alive after `f` closes

    return read
