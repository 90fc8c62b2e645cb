"""Admission, before any body byte is read: the Host header (a DNS-rebinding guard) and the bearer API key."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.datastructures import Headers

from .errors import error_response
from .remote import host_allowed, is_public

OPEN_PATHS = ("/health", "/ui")
"""Served without the API key: liveness, and the web demo (it asks for the key as its own password)."""


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _is_open(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in OPEN_PATHS)


class APIKeyGuard:
    """ASGI middleware demanding `Authorization: Bearer <key>` on every path but `OPEN_PATHS`
    (including /docs and /openapi.json); the 401 is sent before the request body is read."""

    def __init__(self, app, key: str | None):
        self.app, self.key = app, key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.key is None or _is_open(scope["path"]):
            return await self.app(scope, receive, send)
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            message, code = "Missing API key. Send 'Authorization: Bearer <key>' (the server's --api-key / MINIGEMINI_API_KEY).", "missing_api_key"
        elif scheme.lower() != "bearer" or not key_matches(token.strip(), self.key):
            message, code = "Incorrect API key. Use the key the server was started with (--api-key / MINIGEMINI_API_KEY).", "invalid_api_key"
        else:
            return await self.app(scope, receive, send)
        response = error_response(401, message, code)
        response.headers["www-authenticate"] = "Bearer"
        await response(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a Host header value, without its port or IPv6 brackets."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """ASGI middleware against DNS rebinding: on a connection that reached a loopback or private address,
    the Host header must be an IP address, `localhost` (or `*.localhost`), or in `allowed_hosts`.
    A web page on another name that rebinds its DNS to this machine therefore gets a 400."""

    def __init__(self, app, allowed_hosts: list[str]):
        self.app, self.allowed = app, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self._public_interface(scope):
            return await self.app(scope, receive, send)
        name = host_name(Headers(scope=scope).get("host", "")).lower().rstrip(".")
        if _is_ip(name) or name == "localhost" or name.endswith(".localhost") or host_allowed(name, self.allowed):
            return await self.app(scope, receive, send)
        shown = name if len(name) <= 100 else name[:100] + "..."
        response = error_response(
            400,
            f"Host '{shown}' is not accepted on this local address (a DNS-rebinding guard). Use an IP address or "
            "localhost, or start the server with --allowed-host naming it.",
            "invalid_host",
        )
        if scope["type"] == "http":
            await response(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008})

    @staticmethod
    def _public_interface(scope) -> bool:
        """Whether the connection arrived on a public address (rebinding gains nothing there)."""
        server = scope.get("server")
        try:
            return server is not None and is_public(ipaddress.ip_address(server[0]))
        except ValueError:  # a unix socket path: treat as local
            return False
