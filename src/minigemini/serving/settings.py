"""Server settings: batching, limits and security knobs, each with a safe default."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServerSettings:
    """Everything `create_app` needs besides the model.

    Limits are enforced per request and every violation becomes a 4xx error in OpenAI's shape.
    Remote (http/https) images are off unless `allow_remote_images` is set, and even then only
    hosts in `remote_image_hosts` (exact names or `*.suffix` wildcards) are fetched, never on a
    loopback/private/link-local address unless `allow_private_addresses` is set.
    """

    model: str
    model_name: str | None = None
    api_key: str | None = None
    device: str = "cpu"
    dtype: str | None = None  # e.g. "bfloat16", "float16"; None keeps the checkpoint's
    # batching
    max_batch_size: int = 8
    batch_window_ms: float = 5.0
    max_queue: int = 256
    # generation limits
    default_max_tokens: int = 256
    max_tokens_limit: int = 2048
    max_prompt_tokens: int | None = None
    # request and image limits
    max_body_bytes: int = 32 * 1024 * 1024
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 25_000_000
    max_images_per_request: int = 8
    # remote images
    allow_remote_images: bool = False
    remote_image_hosts: list[str] = field(default_factory=list)
    allow_private_addresses: bool = False
    remote_timeout_s: float = 10.0
    # extensions
    image_pipeline: str | None = None
    image_device: str | None = None
    # process
    graceful_timeout_s: float = 60.0

    @property
    def served_name(self) -> str:
        """The model id clients send and `/v1/models` lists (the folder name by default)."""
        from pathlib import Path

        return self.model_name or Path(self.model).name or "minigemini"
