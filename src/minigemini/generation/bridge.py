"""Turn MGM answers into images: parse `<h>...</h>`, render with a lazily loaded pipeline, save."""

from __future__ import annotations

import inspect
import random
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .markup import parse_answer
from .pipeline import DEFAULT_PIPELINE, default_device, load_text2image_pipeline, resolve_dtype

OFFICIAL_NEGATIVE_PROMPT = (
    "out of frame, lowres, text, error, cropped, worst quality, low quality, jpeg artifacts, ugly, "
    "duplicate, morbid, mutilated, out of frame, extra fingers, mutated hands, poorly drawn hands, "
    "poorly drawn face, mutation, deformed, blurry, dehydrated, bad anatomy, bad proportions, "
    "extra limbs, cloned face, disfigured, gross proportions, malformed limbs, missing arms, "
    "missing legs, extra arms, extra legs, fused fingers, too many fingers, long neck, username, "
    "watermark, signature"
)
"""`common_neg_prompt` of the official `mgm/serve/cli.py`, word for word."""


@dataclass
class GeneratedImage:
    """One rendered image and the settings that reproduce it."""

    image: Image.Image
    prompt: str
    negative_prompt: str | None
    seed: int

    def save(self, path: str | Path) -> Path:
        """Write the image (format from the suffix) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.image.save(path)
        return path


@dataclass
class GenerationResult:
    """An answer after generation: visible text, the prompt used (or None), the image and its file."""

    text: str
    prompt: str | None
    image: Image.Image | None
    path: Path | None


class GenerationBridge:
    """Renders MGM image prompts with a diffusers text-to-image pipeline loaded on first use.

    `pipeline` is a hub id or a local folder. Settings left as None fall back to the pipeline's
    own defaults (as the official CLI does); each can be overridden per call. Renders are
    serialised, so one bridge can be shared by server threads.
    """

    def __init__(
        self,
        pipeline: str | Path = DEFAULT_PIPELINE,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        variant: str | None = None,
        negative_prompt: str | None = OFFICIAL_NEGATIVE_PROMPT,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        height: int | None = None,
        progress_bar: bool = True,
    ) -> None:
        self.source = pipeline
        self.device = device or default_device()
        self.dtype = resolve_dtype(self.device, dtype)
        self.variant = variant
        self.negative_prompt = negative_prompt or None
        self.defaults = {"steps": steps, "guidance": guidance, "width": width, "height": height}
        self.progress_bar = progress_bar
        self._pipe: Any = None
        self._load_lock = threading.Lock()
        self._render_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the pipeline has been loaded yet."""
        return self._pipe is not None

    @property
    def pipe(self) -> Any:
        """The diffusers pipeline, loaded on first access."""
        with self._load_lock:
            if self._pipe is None:
                self._pipe = load_text2image_pipeline(self.source, self.device, self.dtype, self.variant)
                self._pipe.set_progress_bar_config(disable=not self.progress_bar)
            return self._pipe

    def render(
        self,
        prompt: str,
        *,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        width: int | None = None,
        height: int | None = None,
        negative_prompt: str | None = None,
    ) -> GeneratedImage:
        """Render `prompt`; a random seed is drawn (and recorded) when none is given."""
        if not prompt.strip():
            raise ValueError("Cannot render an empty prompt.")
        seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        negative = negative_prompt if negative_prompt is not None else self.negative_prompt
        options = {
            "num_inference_steps": steps if steps is not None else self.defaults["steps"],
            "guidance_scale": guidance if guidance is not None else self.defaults["guidance"],
            "width": width if width is not None else self.defaults["width"],
            "height": height if height is not None else self.defaults["height"],
            "negative_prompt": negative or None,
        }
        pipe = self.pipe
        accepted = inspect.signature(pipe.__call__).parameters
        kwargs = {k: v for k, v in options.items() if v is not None and k in accepted}
        generator = torch.Generator("cpu").manual_seed(seed)
        with self._render_lock, torch.inference_mode():  # pipelines keep per-call scheduler state
            image = pipe(prompt=prompt, generator=generator, **kwargs).images[0]
        return GeneratedImage(image=image, prompt=prompt, negative_prompt=kwargs.get("negative_prompt"), seed=seed)

    def respond(
        self, answer: str, out_dir: str | Path, *, filename: str | None = None, **render_kwargs: Any
    ) -> GenerationResult:
        """Parse an MGM answer; when it holds an image prompt, render it and save it in `out_dir`.

        No pipeline is loaded for answers without a prompt. `filename` defaults to a unique
        `generate-<id>.png`; `render_kwargs` go to `render`.
        """
        parsed = parse_answer(answer)
        if parsed.prompt is None:
            return GenerationResult(text=parsed.text, prompt=None, image=None, path=None)
        generated = self.render(parsed.prompt, **render_kwargs)
        path = generated.save(Path(out_dir) / (filename or f"generate-{uuid.uuid4().hex[:12]}.png"))
        return GenerationResult(text=parsed.text, prompt=parsed.prompt, image=generated.image, path=path)
