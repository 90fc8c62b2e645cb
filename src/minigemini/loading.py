"""Loading a model and its processor for inference, shared by chat, serve and web."""

from __future__ import annotations

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
        quantize_int8(m)
    return m, p
