"""Server settings: batching, limits and security knobs, each with a safe default."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field

from ..loading import DTYPE_HELP, QUANTIZE_HELP


def setting(default=MISSING, help: str = "", *, flag: str | None = None, min: float | None = None,
            envvar: str | None = None, factory=None):
    """A `ServerSettings` field whose metadata makes it a `minigemini serve` option (`serving/cli.py`).

    `flag` replaces the default option name (`--` + the field name with dashes); `min` bounds numbers.
    """
    meta = {"help": help, "flag": flag, "min": min, "envvar": envvar}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ServerSettings:
    """Everything `create_app` needs besides the model.

    Limits are enforced per request and every violation becomes a 4xx error in OpenAI's shape.
    On a loopback or private address only IP addresses, `localhost` and `allowed_hosts` may appear in the
    Host header (DNS rebinding). Remote (http/https) images are off unless `allow_remote_images` is set, and even then only
    hosts in `remote_image_hosts` (exact names or `*.suffix` wildcards) are fetched, never on a
    loopback/private/link-local address unless `allow_private_addresses` is set.
    """

    model: str = setting(help="Checkpoint folder (ours or an official MGM folder).", flag="--model")
    model_name: str | None = setting(None, "Model id clients send (default: the folder name).")
    api_key: str | None = setting(None, "Require 'Authorization: Bearer KEY'.", envvar="MINIGEMINI_API_KEY")
    device: str = setting("cpu", "cpu, cuda, cuda:1, mps ...")
    dtype: str = setting("auto", DTYPE_HELP)
    quantize: str = setting("none", QUANTIZE_HELP)
    engine: str = setting("minigemini", "minigemini (this server) or vllm (vLLM's OpenAI server with our plugin; "
                          "see docs/serving.md for which limits carry over).")
    # batching
    max_batch_size: int = setting(8, "Requests per generate() call; 1 disables batching.", min=1)
    batch_window_ms: float = setting(5.0, "How long the worker waits to fill a batch.", min=0.0)
    max_queue: int = setting(256, "Queued requests before answering 429.", min=1)
    # generation limits
    default_max_tokens: int = setting(256, "max_tokens of a request that sets none.", min=1)
    max_tokens_limit: int = setting(2048, "Largest max_tokens a request may ask for.", min=1)
    max_prompt_tokens: int | None = setting(None, "Largest prompt (image tokens included).", min=1)
    # request and image limits
    max_body_bytes: int = setting(32 * 1024 * 1024, "Largest request body (413 above).", min=1)
    max_image_bytes: int = setting(10 * 1024 * 1024, "Largest encoded image.", min=1)
    max_image_pixels: int = setting(25_000_000, "Decoded pixels per image (decompression-bomb guard).", min=1)
    max_images_per_request: int = setting(8, "Images per request.", flag="--max-images", min=0)
    body_timeout_s: float = setting(
        20.0, "Seconds for the whole body to arrive after its headers (slowloris guard).", flag="--body-timeout", min=0.1
    )
    # network
    allowed_hosts: list[str] = setting(
        help="Host name accepted on a loopback/private address (repeatable).", flag="--allowed-host", factory=list
    )
    # remote images
    allow_remote_images: bool = setting(False, "Fetch http(s) image URLs from allowed hosts.")
    remote_image_hosts: list[str] = setting(
        help="Allowed image host (repeatable; '*.example.com' for subdomains).", flag="--remote-image-host", factory=list
    )
    allow_private_addresses: bool = setting(False, "Let remote images come from loopback/private IPs.")
    remote_timeout_s: float = setting(10.0, "Seconds to fetch one remote image.", flag="--remote-timeout", min=0.1)
    # extensions
    image_pipeline: str | None = setting(None, "Diffusers pipeline (folder or hub id) for generate_image.")
    image_device: str | None = setting(None, "Device for the image pipeline (default: cuda if available).")
    # process
    graceful_timeout_s: float = setting(
        60.0, "Seconds to finish in-flight requests on shutdown.", flag="--graceful-timeout", min=0.0
    )

    @property
    def served_name(self) -> str:
        """The model id clients send and `/v1/models` lists (the folder name by default)."""
        from pathlib import Path

        return self.model_name or Path(self.model).name or "minigemini"
