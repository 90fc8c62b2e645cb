"""Any-to-any generation: the `<GEN>`/`<h>` protocol and a diffusers rendering bridge."""

from .bridge import OFFICIAL_NEGATIVE_PROMPT, GeneratedImage, GenerationBridge, GenerationResult
from .markup import ParsedAnswer, add_gen_trigger, parse_answer, wrap_prompt
from .pipeline import DEFAULT_PIPELINE, PipelineUnavailableError, resolve_dtype

__all__ = [
    "DEFAULT_PIPELINE",
    "OFFICIAL_NEGATIVE_PROMPT",
    "GeneratedImage",
    "GenerationBridge",
    "GenerationResult",
    "ParsedAnswer",
    "PipelineUnavailableError",
    "add_gen_trigger",
    "parse_answer",
    "resolve_dtype",
    "wrap_prompt",
]
