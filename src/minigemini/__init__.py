"""minigemini: Mini-Gemini (MGM) as transformers-native software."""

from .configuration import MiniGeminiConfig

__version__ = "0.1.0"

_LAZY = {
    "MiniGeminiForConditionalGeneration": "minigemini.modeling",
    "MiniGeminiProcessor": "minigemini.processing",
    "MiniGeminiImageProcessor": "minigemini.image_processing",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minigemini' has no attribute {name!r}")


def _register_auto_classes() -> None:
    from transformers import AutoConfig

    try:
        AutoConfig.register("minigemini", MiniGeminiConfig)
    except ValueError:
        pass


_register_auto_classes()

__all__ = ["MiniGeminiConfig", "MiniGeminiForConditionalGeneration", "MiniGeminiImageProcessor", "MiniGeminiProcessor"]
