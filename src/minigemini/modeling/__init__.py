"""The Mini-Gemini architecture: towers, patch info mining, projector and the LLM wrapper."""

from .mining import PatchInfoMining
from .modeling_minigemini import MiniGeminiForConditionalGeneration, MiniGeminiPreTrainedModel, build_image_modules
from .projector import build_projector
from .towers import HighResConvNeXtTower, LowResVisionTower

__all__ = [
    "HighResConvNeXtTower",
    "LowResVisionTower",
    "MiniGeminiForConditionalGeneration",
    "MiniGeminiPreTrainedModel",
    "PatchInfoMining",
    "build_image_modules",
    "build_projector",
]
