"""Official MGM checkpoints (YanweiLi/MGM-*) translated into ours: a `MiniGeminiConfig`, a state dict in our
key names, and the tokenizer. A pure translation: building the model or processor is their classes' job.

Official folders hold a Llama/Gemma/Mixtral config with `mm_*` fields, bf16 shards with an index, and
relative tower paths such as `model_zoo/OpenAI/clip-vit-large-patch14-336`. The geometry (towers, image
tokens, context) is computed once, into the config, from `config.json` and tensor shapes; tower folders
are needed only when the checkpoint lacks the towers' weights.
"""

from __future__ import annotations

from .fields import OFFICIAL_LLM_TYPES, CheckpointError
from .folders import check_model_type, is_official_checkpoint, local_checkpoint
from .translate import OfficialCheckpoint, read_official

__all__ = ["CheckpointError", "OFFICIAL_LLM_TYPES", "OfficialCheckpoint", "check_model_type", "is_official_checkpoint",
           "local_checkpoint", "read_official"]
