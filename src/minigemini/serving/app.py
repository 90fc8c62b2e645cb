"""The FastAPI application: OpenAI-compatible routes, health, batch statistics, optional web demo."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from .auth import APIKeyGuard, HostCheck
from .completions import ChatService
from .engine import Engine
from .errors import install_error_handlers
from .jobs import Job
from .limits import BodySizeLimit
from .schemas import ChatCompletionRequest
from .settings import ServerSettings


def create_app(settings: ServerSettings, model=None, processor=None, ui: bool = False) -> FastAPI:
    """Build the app; the model is loaded from `settings.model` unless given. The worker stops
    (after finishing every queued request) when the app shuts down."""
    if model is None or processor is None:
        from ..loading import load_model

        model, processor = load_model(settings.model, settings.device, settings.dtype, quantize=settings.quantize)
    engine = Engine(model, processor, max_batch_size=settings.max_batch_size, batch_window_ms=settings.batch_window_ms, max_queue=settings.max_queue)
    service = ChatService(settings, model, processor, engine)
    started = time.time()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        engine.close(settings.graceful_timeout_s)

    app = FastAPI(title="minigemini", lifespan=lifespan)
    if ui:  # first, so that its upload ledger sits inside the limits below
        from .ui import mount_ui

        mount_ui(app, service, settings)
    # outermost last: Host header, then the API key (both before the body is read), then the body's size and deadline
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(APIKeyGuard, key=settings.api_key)
    app.add_middleware(HostCheck, allowed_hosts=settings.allowed_hosts)
    app.state.service = service
    install_error_handlers(app, settings.max_body_bytes)

    @app.get("/health")
    async def health() -> dict:
        """Liveness and queue depth (no API key needed)."""
        return {"status": "ok", "model": settings.served_name, "queued": engine.queued, "batches": engine.stats.snapshot()}

    @app.get("/v1/models")
    async def models() -> dict:
        card = {"id": settings.served_name, "object": "model", "created": int(started), "owned_by": "minigemini"}
        return {"object": "list", "data": [card]}

    @app.get("/v1/stats")
    async def stats() -> dict:
        """Batch statistics: number of batches and the histogram of batch sizes."""
        return {**engine.stats.snapshot(), "queued": engine.queued, "max_batch_size": settings.max_batch_size}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatCompletionRequest, raw: Request):
        prepared = await service.prepare(request)
        service.submit(prepared)
        if request.stream:  # StreamingResponse cancels the generator, and with it the job, on disconnect
            return StreamingResponse(service.stream(prepared), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        watcher = asyncio.create_task(cancel_on_disconnect(raw, prepared.job))
        try:
            return await service.complete(prepared)
        finally:
            watcher.cancel()

    return app


async def cancel_on_disconnect(raw: Request, job: Job) -> None:
    """Cancel `job` when its client disconnects (the request body has been read: only a disconnect can come)."""
    while (await raw.receive())["type"] != "http.disconnect":
        pass
    job.cancel()
