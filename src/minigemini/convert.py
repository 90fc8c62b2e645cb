"""`minigemini convert`: an official MGM folder -> our self-contained folder (safetensors, configs, processor)."""

from __future__ import annotations

import os
from pathlib import Path

from .modeling import MiniGeminiForConditionalGeneration
from .processing import MiniGeminiProcessor
from .quiet import quiet_transformers


def convert_official(src: str | os.PathLike, dst: str | os.PathLike, *, lr_tower: str | None = None,
                     hr_tower: str | None = None, template: str | None = None, torch_dtype=None) -> Path:
    """Load an official folder and save model + processor in our format; returns `dst`."""
    towers = {"lr_tower": lr_tower, "hr_tower": hr_tower, "template": template}
    model = MiniGeminiForConditionalGeneration.from_pretrained(src, torch_dtype=torch_dtype, **towers)
    processor = MiniGeminiProcessor.from_pretrained(src, **towers)
    dst = Path(dst)
    with quiet_transformers():
        model.save_pretrained(dst)
        processor.save_pretrained(dst)
    return dst
