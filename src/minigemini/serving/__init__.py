"""OpenAI-compatible serving with request batching, limits for untrusted input, and a Gradio demo."""

from .app import create_app, load_model
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "load_model"]
