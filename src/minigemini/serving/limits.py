"""ASGI middleware that bounds request bodies: a byte limit (declared or streamed) and a deadline for the whole
body to arrive (slowloris), both answered in OpenAI's error shape."""

from __future__ import annotations

import json
import time

import anyio
from starlette.exceptions import HTTPException

from .errors import error_body, too_large_message


class BodyTooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes it to the 413 handler in `errors.py`."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")


class BodyTimeout(HTTPException):
    """Raised when the body has not fully arrived by its deadline; answered 408."""

    def __init__(self, seconds: float) -> None:
        super().__init__(status_code=408, detail=f"The request body did not arrive within {seconds:g} s. Send it at once, or retry on a better connection.")


class BodySizeLimit:
    """Answer 413 at once when Content-Length exceeds `max_bytes`; stop reading a longer streamed body; answer 408
    when the whole body has not arrived `timeout_s` after the request's headers."""

    def __init__(self, app, max_bytes: int, timeout_s: float):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        received, complete, deadline = 0, False, time.monotonic() + self.timeout_s

        async def limited_receive():
            nonlocal received, complete
            if complete:  # after the body only a disconnect can come: wait for it as long as it takes
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send) -> None:
        body = json.dumps(error_body(413, too_large_message(self.max_bytes), "request_too_large")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
