"""The FastAPI application: OpenAI-compatible routes, health, batch statistics, optional web demo."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse

from .auth import api_key_checker
from .completions import ChatService
from .engine import Engine
from .errors import install_error_handlers
from .limits import BodySizeLimit
from .schemas import ChatCompletionRequest
from .settings import ServerSettings


def create_app(settings: ServerSettings, model=None, processor=None, ui: bool = False) -> FastAPI:
    """Build the app; the model is loaded from `settings.model` unless given. The worker stops
    (after finishing every queued request) when the app shuts down."""
    if model is None or processor is None:
        from ..loading import load_model

        model, processor = load_model(settings.model, settings.device, settings.dtype)
    engine = Engine(model, processor, max_batch_size=settings.max_batch_size, batch_window_ms=settings.batch_window_ms, max_queue=settings.max_queue)
    service = ChatService(settings, model, processor, engine)
    started = time.time()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        engine.close(settings.graceful_timeout_s)

    app = FastAPI(title="minigemini", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.state.service = service
    install_error_handlers(app, settings.max_body_bytes)
    auth = [Depends(api_key_checker(settings.api_key))]

    @app.get("/health")
    async def health() -> dict:
        """Liveness and queue depth (no API key needed)."""
        return {"status": "ok", "model": settings.served_name, "queued": engine.queued, "batches": engine.stats.snapshot()}

    @app.get("/v1/models", dependencies=auth)
    async def models() -> dict:
        card = {"id": settings.served_name, "object": "model", "created": int(started), "owned_by": "minigemini"}
        return {"object": "list", "data": [card]}

    @app.get("/v1/stats", dependencies=auth)
    async def stats() -> dict:
        """Batch statistics: number of batches and the histogram of batch sizes."""
        return {**engine.stats.snapshot(), "queued": engine.queued, "max_batch_size": settings.max_batch_size}

    @app.post("/v1/chat/completions", dependencies=auth)
    async def chat_completions(request: ChatCompletionRequest):
        prepared = await service.prepare(request)
        service.submit(prepared)
        if request.stream:
            return StreamingResponse(service.stream(prepared), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return await service.complete(prepared)

    if ui:
        from .ui import mount_ui

        mount_ui(app, service, settings)
    return app
