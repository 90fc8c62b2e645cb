"""Mini-Gemini on vLLM: an out-of-tree model plugin (entry point `vllm.general_plugins` -> `register`).

Installed next to vLLM (`bash scripts/setup-vllm.sh`, or `pip install vllm minigemini` on a GPU machine),
`vllm.LLM(model=DIR)` and `python -m vllm.entrypoints.openai.api_server --model DIR` serve a folder in our
format. The LLM is vLLM's own paged model of the checkpoint's family; the towers, patch info mining and the
projector are minigemini's modules, run in vLLM's encoder step. Prompts are tokenized chunk by chunk around
`<image>` markers and chat requests are rendered with the checkpoint's own template (`renderer.py`).

Nothing here is imported unless vLLM is installed: this package is the vLLM side only.
"""

from __future__ import annotations


def register() -> None:
    """Called by vLLM in every process it starts: registers the model, its tokenizer mode and renderer."""
    from vllm import ModelRegistry
    from vllm.model_executor.models.config import MODELS_CONFIG_MAP
    from vllm.renderers.registry import RENDERER_REGISTRY
    from vllm.tokenizers.registry import TokenizerRegistry

    from .config import ARCHITECTURE, TOKENIZER_MODE, MiniGeminiVllmConfig, refuse_official_folders

    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, "minigemini.vllm.model:MiniGeminiForConditionalGeneration")
    if TOKENIZER_MODE not in TokenizerRegistry.tokenizers:  # the plain HF tokenizer; our renderer does the rest
        TokenizerRegistry.register(TOKENIZER_MODE, "vllm.tokenizers.hf", "CachedHfTokenizer")
    if TOKENIZER_MODE not in RENDERER_REGISTRY.renderers:
        RENDERER_REGISTRY.register(TOKENIZER_MODE, "minigemini.vllm.renderer", "MiniGeminiRenderer")
    MODELS_CONFIG_MAP.setdefault(ARCHITECTURE, MiniGeminiVllmConfig)  # no register() for this map
    refuse_official_folders()
