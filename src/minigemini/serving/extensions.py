"""The `"minigemini"` extension field: OCR hints and image generation, each optional at install time.

Image generation needs `minigemini.generation` (diffusers) and a pipeline given with --image-pipeline;
OCR needs `minigemini.ocr` (rapidocr). Without them the server runs and these options answer 400.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from .errors import APIError


class ImageGenerator:
    """Renders the `<h>...</h>` prompt of an answer with a `GenerationBridge` (pipeline loaded on first use)."""

    def __init__(self, pipeline: str | None, device: str | None = None):
        self.pipeline = pipeline
        self.device = device
        self._bridge: Any = None

    def check_available(self) -> None:
        """Raise a 400 naming the fix when image generation cannot run on this server."""
        if self.pipeline is None:
            raise APIError(
                400,
                "Image generation is not enabled on this server. Start it with --image-pipeline "
                "(a diffusers folder or hub id, e.g. stabilityai/stable-diffusion-xl-base-1.0).",
                "image_generation_unavailable",
                "minigemini.generate_image",
            )
        try:
            from ..generation import GenerationBridge
        except ImportError as err:
            raise APIError(
                400,
                f"Image generation needs diffusers: pip install 'minigemini[gen]' ({err}).",
                "image_generation_unavailable",
                "minigemini.generate_image",
            ) from None
        if self._bridge is None:
            self._bridge = GenerationBridge(self.pipeline, device=self.device)

    def add_trigger(self, text: str) -> str:
        """The official `" <GEN>"` suffix for the last user turn."""
        from ..generation import add_gen_trigger

        return add_gen_trigger(text)

    def respond(self, answer: str, seed: int | None) -> tuple[str, dict | None]:
        """Blocking: (visible text, `generated_image` object or None when the answer holds no prompt)."""
        from ..generation import parse_answer

        parsed = parse_answer(answer)
        if parsed.prompt is None:
            return parsed.text, None
        generated = self._bridge.render(parsed.prompt, seed=seed)
        return parsed.text, {"b64_png": png_base64(generated.image), "prompt": generated.prompt, "seed": generated.seed}


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def ocr_line(image: Image.Image) -> str:
    """Blocking: the official `"\\nReference OCR Token: ...\\n"` line for one image ("" when no text is read)."""
    from ..ocr import OCRError, ocr_reference_line

    try:
        return ocr_reference_line(image)
    except ImportError as err:
        raise APIError(400, f"OCR is not available on this server: {err}.", "ocr_unavailable", "minigemini.ocr") from None
    except OCRError as err:
        raise APIError(400, str(err), "ocr_failed", "minigemini.ocr") from None
