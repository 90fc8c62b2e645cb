"""The web demo's file ledger: a browser may only name files it uploaded itself, in its own session.

Gradio clients refer to files by server path (`{"path": ...}` in a JSON body). Without this guard any
client could name any server file (or URL) and have the demo read it, or learn from the error whether
it exists. The middleware gives each browser a random session cookie, records the paths Gradio's
upload route returns to that session, and answers 403 to any other request body that names a path
outside that record, before Gradio reads anything.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import OrderedDict
from http.cookies import SimpleCookie

from starlette.datastructures import Headers

from .errors import error_response

COOKIE = "minigemini_ui"
MAX_SESSIONS = 4096
MAX_FILES_PER_SESSION = 256


def named_paths(value) -> list[str]:
    """Every `"path"` string inside a JSON value (Gradio's FileData objects)."""
    if isinstance(value, dict):
        found = [value["path"]] if isinstance(value.get("path"), str) else []
        return found + [p for v in value.values() for p in named_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in named_paths(v)]
    return []


class UploadLedger:
    """ASGI middleware for the paths under `prefix` (the demo), inside the body-size limit."""

    def __init__(self, app, prefix: str):
        self.app, self.prefix = app, prefix
        self.sessions: OrderedDict[str, list[str]] = OrderedDict()

    def uploaded(self, token: str | None) -> list[str]:
        """The absolute paths uploaded under session `token`."""
        return self.sessions.get(token or "", [])

    def _record(self, token: str, paths: list[str]) -> None:
        files = self.sessions.setdefault(token, [])
        self.sessions.move_to_end(token)
        files.extend(os.path.abspath(p) for p in paths)
        del files[:-MAX_FILES_PER_SESSION]
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == self.prefix or path.startswith(self.prefix + "/")):
            return await self.app(scope, receive, send)
        token = SimpleCookie(Headers(scope=scope).get("cookie", "")).get(COOKIE)
        token = token.value if token is not None else None
        if token is None:
            token = secrets.token_urlsafe(24)
            send = _setting_cookie(send, token, self.prefix)
        if scope["method"] == "POST" and path.endswith("/gradio_api/upload"):
            send = self._recording(send, token)
        elif scope["method"] == "POST":
            body = await _read_body(receive)
            try:
                paths = named_paths(json.loads(body))
            except (ValueError, RecursionError):  # not JSON (the login form): names no files
                paths = []
            owned = set(self.uploaded(token))
            if any(os.path.abspath(p) not in owned for p in paths):
                response = error_response(
                    403, "The request names a file this browser session did not upload. Upload the image again.", "file_not_uploaded"
                )
                return await response(scope, receive, send)
            receive = _replaying(body, receive)
        await self.app(scope, receive, send)

    def _recording(self, send, token: str):
        """Wrap `send` to record the paths of a successful upload response under `token`."""
        status, chunks = 0, []

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    try:
                        paths = json.loads(b"".join(chunks))
                    except ValueError:
                        paths = []
                    self._record(token, [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else [])
            await send(message)

        return recording_send


def _setting_cookie(send, token: str, path: str):
    async def send_with_cookie(message):
        if message["type"] == "http.response.start":
            cookie = f"{COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict"
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
        await send(message)

    return send_with_cookie


async def _read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replaying(body: bytes, receive):
    """A `receive` that hands the already-read body to the app once, then defers to the real one."""
    pending = True

    async def replay():
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
