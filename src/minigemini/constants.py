"""Constants shared with the official MGM code (values must match to reproduce its token streams)."""

IMAGE_TOKEN = "<image>"
"""The marker users write in prompts; each one is replaced by one image's placeholder run."""

IMAGE_MARKER_ID = -200
"""The official `IMAGE_TOKEN_INDEX`: where `tokenizer_image_token` puts an image. Never reaches the model."""

IGNORE_INDEX = -100
"""Label value that the loss ignores."""

GEN_TRIGGER = "<GEN>"
"""Appended to a user turn to ask for an image-generation prompt inside <h>...</h>."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PAD_COLOR = tuple(int(m * 255) for m in CLIP_MEAN)  # (122, 116, 104), the official expand2square background
