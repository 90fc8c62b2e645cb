"""vLLM configuration hooks: our tokenizer mode by default, and a clear refusal of official MGM folders."""

from __future__ import annotations

from vllm.model_executor.models.config import VerifyAndUpdateConfig

from ..official import OFFICIAL_LLM_TYPES, CheckpointError

ARCHITECTURE = "MiniGeminiForConditionalGeneration"
TOKENIZER_MODE = "minigemini"


class MiniGeminiVllmConfig(VerifyAndUpdateConfig):
    """Selects the `minigemini` tokenizer mode (per-chunk tokenization, our chat templates) unless the user
    picked another one."""

    @staticmethod
    def verify_and_update_model_config(model_config) -> None:
        if model_config.tokenizer_mode == "auto":
            model_config.tokenizer_mode = TOKENIZER_MODE


def refuse_official_folders() -> None:
    """Make transformers' config loading of an official MGM folder (`model_type` mgm*, mini_gemini*) stop
    with one line that says what to run, instead of "unrecognized model type"."""
    from transformers import AutoConfig, PreTrainedConfig

    for model_type in OFFICIAL_LLM_TYPES:

        class OfficialCheckpoint(PreTrainedConfig):
            def __init__(self, **kwargs):
                raise CheckpointError(
                    f"This is an official MGM checkpoint (model_type {self.model_type!r}); vLLM serves our format: "
                    "run `minigemini convert OFFICIAL_DIR OUT_DIR` once and pass OUT_DIR."
                )

        OfficialCheckpoint.model_type = model_type
        try:
            AutoConfig.register(model_type, OfficialCheckpoint)
        except ValueError:  # already registered in this process
            pass
