"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` for every failure."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
}


class APIError(Exception):
    """A request failure with its HTTP status, OpenAI error code and offending parameter."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def error_body(status: int, message: str, code: str | None, param: str | None = None) -> dict:
    """The error object; message and param are made encodable (a client's lone surrogate may be echoed in them)."""
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    param = None if param is None else param.encode("utf-8", "backslashreplace").decode("utf-8")
    return {"error": {"message": message, "type": _TYPES.get(status, "server_error"), "param": param, "code": code}}


def too_large_message(max_bytes: int) -> str:
    return (
        f"The request body exceeds the limit of {max_bytes:,} bytes. Send smaller or fewer images "
        "(or start the server with a larger --max-body-bytes)."
    )


def error_response(status: int, message: str, code: str | None, param: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, param), status_code=status)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None, str]:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON. Send a JSON object with Content-Type: application/json.", None, "invalid_json"
    param = ".".join(loc) or None
    where = f" at '{param}'" if param else ""
    return f"Invalid request{where}: {first.get('msg', 'malformed body')}.", param, "invalid_value"


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """Route APIError, validation and HTTP errors (404, 405, 413 from `limits.BodySizeLimit`) through the OpenAI shape."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        exc.__traceback__ = None  # its frames (a rejected prompt, its token lists) must not wait for the cycle collector
        return error_response(exc.status, exc.message, exc.code, exc.param)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param, code = _describe_validation(exc)
        return error_response(400, message, code, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return error_response(413, too_large_message(max_body_bytes), "request_too_large")
        return error_response(exc.status_code, str(exc.detail), None)
