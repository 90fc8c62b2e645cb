"""`minigemini serve` / `minigemini web`: one uvicorn process with the API (and optionally the Gradio demo).

`serve` has one option per `ServerSettings` field, built from the field's type, default and metadata
(help, flag, bound, environment variable), so the command line cannot drift from the settings.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import typing

import typer

from .settings import ServerSettings

app = typer.Typer(help="Serve a Mini-Gemini model over an OpenAI-compatible API.", no_args_is_help=True)



def _listen_options(port: int) -> list[inspect.Parameter]:
    """Options that are not settings: where to listen."""
    return [
        inspect.Parameter("host", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=typer.Option(
            "127.0.0.1", help="Bind address; use 0.0.0.0 only behind a firewall or with --api-key.")),
        inspect.Parameter("port", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=typer.Option(port, help="Port.")),
    ]


_UI_OPTION = inspect.Parameter("ui", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
    False, "--ui", help="Also mount the Gradio web demo at /ui."))


def settings_options(names: tuple[str, ...] | None = None) -> list[inspect.Parameter]:
    """One typer option per `ServerSettings` field (or per field in `names`): same name, type and default;
    help, flag, bound and environment variable from the field metadata."""
    hints = typing.get_type_hints(ServerSettings)
    params = []
    for f in dataclasses.fields(ServerSettings):
        if names is not None and f.name not in names:
            continue
        meta = f.metadata
        default = ... if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING else (
            f.default_factory() if f.default is dataclasses.MISSING else f.default
        )
        decls = [meta.get("flag") or "--" + f.name.replace("_", "-")] + (["-m"] if f.name == "model" else [])
        bound = {"min": meta["min"]} if meta.get("min") is not None else {}
        option = typer.Option(default, *decls, help=meta.get("help"), envvar=meta.get("envvar"), **bound)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name], default=option))
    return params


def serve(**options) -> None:
    """Run the OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models, /v1/stats, /health)."""
    host, port, ui = options.pop("host"), options.pop("port"), options.pop("ui")
    options["api_key"] = options["api_key"] or None
    settings = ServerSettings(**options)
    if settings.engine == "vllm":
        from ..vllm.launch import exec_vllm_server

        try:
            exec_vllm_server(settings, host=host, port=port, ui=ui)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
    if settings.engine != "minigemini":
        raise typer.BadParameter(f"--engine must be minigemini or vllm, not {settings.engine!r}.")
    run_server(settings, host=host, port=port, ui=ui)


def web(**options) -> None:
    """The web demo (at /ui) with the API beside it, default limits; the API key is also the demo's password."""
    host, port = options.pop("host"), options.pop("port")
    options["api_key"] = options["api_key"] or None
    run_server(ServerSettings(**options), host=host, port=port, ui=True)


def _with_options(command, params: list[inspect.Parameter]):
    """Give `command(**options)` the signature typer reads its options from."""
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


app.command()(_with_options(serve, settings_options() + _listen_options(8000) + [_UI_OPTION]))
app.command()(_with_options(web, settings_options(("model", "api_key", "image_pipeline")) + _listen_options(7860)))


def run_server(settings: ServerSettings, host: str = "127.0.0.1", port: int = 8000, ui: bool = False) -> None:
    """Blocking: load the model, serve until SIGINT/SIGTERM, then finish in-flight requests and exit."""
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    application = create_app(settings, ui=ui)
    if ui:
        typer.echo(f"Web demo: http://{host}:{port}/ui")
    uvicorn.run(application, host=host, port=port, timeout_graceful_shutdown=settings.graceful_timeout_s, log_level="info")
