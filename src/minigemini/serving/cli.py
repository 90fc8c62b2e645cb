"""`minigemini serve` / `minigemini web`: one uvicorn process with the API (and optionally the Gradio demo)."""

from __future__ import annotations

import logging

import typer

from .settings import ServerSettings

app = typer.Typer(help="Serve a Mini-Gemini model over an OpenAI-compatible API.", no_args_is_help=True)


@app.command()
def serve(
    model: str = typer.Option(..., "--model", "-m", help="Checkpoint folder (ours or an official MGM folder)."),
    host: str = typer.Option("127.0.0.1", help="Bind address; use 0.0.0.0 only behind a firewall or with --api-key."),
    port: int = typer.Option(8000),
    ui: bool = typer.Option(False, "--ui", help="Also mount the Gradio web demo at /ui."),
    model_name: str | None = typer.Option(None, help="Model id clients send (default: the folder name)."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1, mps ..."),
    dtype: str | None = typer.Option(None, help="float32, bfloat16 or float16 (default: the checkpoint's)."),
    api_key: str | None = typer.Option(None, envvar="MINIGEMINI_API_KEY", help="Require 'Authorization: Bearer KEY'."),
    max_batch_size: int = typer.Option(8, min=1, help="Requests per generate() call; 1 disables batching."),
    batch_window_ms: float = typer.Option(5.0, min=0.0, help="How long the worker waits to fill a batch."),
    max_queue: int = typer.Option(256, min=1, help="Queued requests before answering 429."),
    default_max_tokens: int = typer.Option(256, min=1),
    max_tokens_limit: int = typer.Option(2048, min=1, help="Largest max_tokens a request may ask for."),
    max_prompt_tokens: int | None = typer.Option(None, min=1, help="Largest prompt (image tokens included)."),
    max_body_bytes: int = typer.Option(32 * 1024 * 1024, min=1),
    max_image_bytes: int = typer.Option(10 * 1024 * 1024, min=1),
    max_image_pixels: int = typer.Option(25_000_000, min=1, help="Decoded pixels per image (decompression-bomb guard)."),
    max_images: int = typer.Option(8, min=0, help="Images per request."),
    allow_remote_images: bool = typer.Option(False, "--allow-remote-images", help="Fetch http(s) image URLs from allowed hosts."),
    remote_image_host: list[str] = typer.Option([], help="Allowed image host (repeatable; '*.example.com' for subdomains)."),
    allow_private_addresses: bool = typer.Option(False, "--allow-private-addresses", help="Let remote images come from loopback/private IPs."),
    remote_timeout: float = typer.Option(10.0, min=0.1),
    image_pipeline: str | None = typer.Option(None, help="Diffusers pipeline (folder or hub id) for generate_image."),
    image_device: str | None = typer.Option(None, help="Device for the image pipeline (default: cuda if available)."),
    graceful_timeout: float = typer.Option(60.0, min=0.0, help="Seconds to finish in-flight requests on shutdown."),
) -> None:
    """Run the OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models, /v1/stats, /health)."""
    settings = ServerSettings(
        model=model, model_name=model_name, api_key=api_key or None, device=device, dtype=dtype,
        max_batch_size=max_batch_size, batch_window_ms=batch_window_ms, max_queue=max_queue,
        default_max_tokens=default_max_tokens, max_tokens_limit=max_tokens_limit, max_prompt_tokens=max_prompt_tokens,
        max_body_bytes=max_body_bytes, max_image_bytes=max_image_bytes, max_image_pixels=max_image_pixels,
        max_images_per_request=max_images, allow_remote_images=allow_remote_images,
        remote_image_hosts=list(remote_image_host), allow_private_addresses=allow_private_addresses,
        remote_timeout_s=remote_timeout, image_pipeline=image_pipeline, image_device=image_device,
        graceful_timeout_s=graceful_timeout,
    )
    run_server(settings, host=host, port=port, ui=ui)


@app.command()
def web(
    model: str = typer.Option(..., "--model", "-m", help="Checkpoint folder."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(7860),
    api_key: str | None = typer.Option(None, envvar="MINIGEMINI_API_KEY", help="Also the demo's login password."),
    image_pipeline: str | None = typer.Option(None, help="Diffusers pipeline for image generation."),
) -> None:
    """The web demo (at /ui) with the API beside it, default limits."""
    run_server(ServerSettings(model=model, api_key=api_key or None, image_pipeline=image_pipeline), host=host, port=port, ui=True)


def run_server(settings: ServerSettings, host: str = "127.0.0.1", port: int = 8000, ui: bool = False) -> None:
    """Blocking: load the model, serve until SIGINT/SIGTERM, then finish in-flight requests and exit."""
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    application = create_app(settings, ui=ui)
    if ui:
        typer.echo(f"Web demo: http://{host}:{port}/ui")
    uvicorn.run(application, host=host, port=port, timeout_graceful_shutdown=settings.graceful_timeout_s, log_level="info")
