"""ASGI middleware that refuses request bodies over a byte limit, declared or streamed, in OpenAI's error shape."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

from .errors import error_body, too_large_message


class BodyTooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes it to the 413 handler in `errors.py`."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")


class BodySizeLimit:
    """Answer 413 at once when Content-Length exceeds `max_bytes`; stop reading a longer streamed body."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send) -> None:
        body = json.dumps(error_body(413, too_large_message(self.max_bytes), "request_too_large")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
