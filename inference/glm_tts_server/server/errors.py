"""Errors as clients expect them: readable messages, no stack traces.

Under `/v1/*` every error is OpenAI's envelope, `{"error": {"message", "type", "param", "code"}}`,
so the official OpenAI clients show our message in `e.message` and the offending field in
`e.param`. Elsewhere (`/admin/*`, the probes) it stays `{"detail": "<what to fix>"}`.
Routes raise `APIError(status, message, param=...)` to name the field at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from glm_tts_server.server.models import ErrorResponse, OpenAIErrorResponse

log = logging.getLogger(__name__)

MAX_PROBLEMS = 10
MAX_PROBLEM_CHARS = 300
OPENAI_PREFIX = "/v1/"
# OpenAI's `type` for each status this service answers with.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
# A default machine-readable `code` per status, when the route gives none.
_CODES = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_value",
    429: "queue_full",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}


class APIError(HTTPException):
    """An HTTP error that names the request field at fault (`param`) and a machine-readable `code`."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(status_code, message, dict(headers) if headers else None)
        self.param = param
        self.code = code


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error codes of a `/v1/*` route: all with OpenAI's envelope."""
    return {code: {"model": OpenAIErrorResponse} for code in codes}


def detail_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error codes outside `/v1/*`: `{"detail": ...}`."""
    return {code: {"model": ErrorResponse} for code in codes}


def error_body(
    path: str, status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The JSON error body for a request to `path`."""
    if not path.startswith(OPENAI_PREFIX):
        return {"detail": message}
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code or _CODES.get(status)}}


def _field(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form")]
    return ".".join(loc)


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    field = _field(error)
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "syntax error")
        return f"request body is not valid JSON ({reason}): send one JSON object"
    if kind == "missing" and not field:
        return "request body is missing: send a JSON object"
    if kind == "model_attributes_type" and not field:
        return "request body must be a JSON object with Content-Type: application/json"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        msg = "unknown field: remove it or check its spelling"
    return f"{field}: {msg}" if field else msg


def _capped(problems: list[str]) -> str:
    """At most MAX_PROBLEMS problems of at most MAX_PROBLEM_CHARS each: an error never echoes a body."""
    unique = list(
        dict.fromkeys(p if len(p) <= MAX_PROBLEM_CHARS else p[:MAX_PROBLEM_CHARS] + "…" for p in problems)
    )
    more = f"; and {len(unique) - MAX_PROBLEMS} more problem(s)" if len(unique) > MAX_PROBLEMS else ""
    return "; ".join(unique[:MAX_PROBLEMS]) + more


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = _capped([_describe(e) for e in errors])
    first = errors[0] if errors else {}
    param = _field(first)[:MAX_PROBLEM_CHARS] or None
    code = str(first.get("type")) if first.get("type") else None
    return JSONResponse(error_body(request.url.path, 422, message, param, code), status_code=422)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's "There was an error parsing the body" (undecodable JSON, broken multipart).
        detail = (
            f"request body cannot be parsed ({exc.__cause__ or type(exc.__cause__).__name__}): "
            "send UTF-8 JSON, or a well-formed multipart/form-data form for uploads"
        )
    body = error_body(
        request.url.path, exc.status_code, detail, getattr(exc, "param", None), getattr(exc, "code", None)
    )
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = f"internal error ({type(exc).__name__}); see the server log"
    return JSONResponse(error_body(request.url.path, 500, message), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
