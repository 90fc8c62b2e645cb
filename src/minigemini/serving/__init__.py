"""OpenAI-compatible serving with request batching, limits for untrusted input, and a Gradio demo."""

from ..loading import load_model
from .app import create_app
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "load_model"]
