"""Optional bearer API key, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import Request

from .errors import APIError


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def api_key_checker(expected: str | None):
    """A FastAPI dependency that demands `Authorization: Bearer <expected>` (a no-op when None)."""

    async def check(request: Request) -> None:
        if expected is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise APIError(401, "Missing API key. Send 'Authorization: Bearer <key>' (the server's --api-key / MINIGEMINI_API_KEY).", "missing_api_key")
        if scheme.lower() != "bearer" or not key_matches(token.strip(), expected):
            raise APIError(401, "Incorrect API key. Use the key the server was started with (--api-key / MINIGEMINI_API_KEY).", "invalid_api_key")

    return check
