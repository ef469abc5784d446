"""Every error is `{"detail": "<what to fix>"}`: readable validation messages, no stack traces."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from glm_tts_server.server.models import ErrorResponse

log = logging.getLogger(__name__)

MAX_PROBLEMS = 10
MAX_PROBLEM_CHARS = 300


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error codes, all with the one `ErrorResponse` body."""
    return {code: {"model": ErrorResponse} for code in codes}


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form")]
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "syntax error")
        return f"request body is not valid JSON ({reason}): send one JSON object"
    if kind == "missing" and not loc:
        return "request body is missing: send a JSON object"
    if kind == "model_attributes_type" and not loc:
        return "request body must be a JSON object with Content-Type: application/json"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        msg = "unknown field: remove it or check its spelling"
    return f"{'.'.join(loc)}: {msg}" if loc else msg


def _capped(problems: list[str]) -> str:
    """At most MAX_PROBLEMS problems of at most MAX_PROBLEM_CHARS each: an error never echoes a body."""
    unique = list(dict.fromkeys(p if len(p) <= MAX_PROBLEM_CHARS else p[:MAX_PROBLEM_CHARS] + "…"
                                for p in problems))
    more = f"; and {len(unique) - MAX_PROBLEMS} more problem(s)" if len(unique) > MAX_PROBLEMS else ""
    return "; ".join(unique[:MAX_PROBLEMS]) + more


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = _capped([_describe(e) for e in exc.errors()])
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's "There was an error parsing the body" (undecodable JSON, broken multipart).
        detail = (f"request body cannot be parsed ({exc.__cause__ or type(exc.__cause__).__name__}): "
                  "send UTF-8 JSON, or a well-formed multipart/form-data form for uploads")
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"},
                        status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
