"""The HTTP routes (Starlette): /validate, /imagereview, /healthz, /readyz, /metrics.

Bodies are read under a size cap before any parsing; JSON parsing and the decision (registry
calls, ECDSA) run in worker threads so the event loop keeps answering probes. Every error is
JSON `{"error": ..., "code": ...}` with a message that says what to fix.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_tts_hooks.image_policy.admission import BadRequest, review_admission, review_images

if TYPE_CHECKING:
    from glm_tts_hooks.image_policy.server import ImagePolicyServer

log = logging.getLogger(__name__)

# The API server caps objects at 3 MiB in etcd; an AdmissionReview carries at most two of them
# (object and oldObject) plus envelope, and pods are far smaller in practice.
MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_DRAIN_BYTES = 16 * 1024 * 1024  # read past an oversized body so the client sees our answer
KNOWN_ENDPOINTS = ("/validate", "/imagereview", "/healthz", "/readyz", "/metrics")
USAGE = "POST /validate (AdmissionReview) or /imagereview (ImageReview); GET /healthz or /metrics"


class _Refused(Exception):
    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.close = status, close


def error(status: int, message: str, close: bool = False) -> JSONResponse:
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"error": message, "code": status}, status_code=status, headers=headers)


async def _read_body(request: Request) -> bytes:
    """The request body, at most MAX_BODY_BYTES; an oversized one is drained (bounded) and refused."""
    if "transfer-encoding" not in request.headers:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise _Refused(411, "a Content-Length header is required", close=True)
        if int(length) > MAX_BODY_BYTES:
            await _drain(request.receive, 0)
            raise _Refused(
                413, f"request body of {length} bytes exceeds the {MAX_BODY_BYTES} byte limit", True
            )
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type != "application/json":
        await _drain(request.receive, 0)
        raise _Refused(415, f"Content-Type {content_type!r} is not application/json", close=True)
    body = bytearray()
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            await _drain(request.receive, len(body))
            raise _Refused(413, f"request body exceeds the {MAX_BODY_BYTES} byte limit", close=True)
        if not message.get("more_body", False):
            return bytes(body)


async def _drain(receive: Receive, already: int) -> None:
    drained = already
    while drained < MAX_DRAIN_BYTES:
        message = await receive()
        drained += len(message.get("body", b""))
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


class CountRequests:
    """Counts every answer by endpoint and status, 404s and server errors included."""

    def __init__(self, app: ASGIApp, server: ImagePolicyServer) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in KNOWN_ENDPOINTS else "other"  # bounded labels

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.server.metrics.requests.labels(endpoint, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def build_app(server: ImagePolicyServer) -> Starlette:
    limiter = anyio.CapacityLimiter(64)  # reviews decided at once; more wait for a thread

    def review(api: str, answer: Callable[..., Any], body: bytes) -> Response:
        """Runs in a worker thread: parse, decide, answer."""
        started = time.perf_counter()
        with server.in_flight:
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError) as exc:  # bad syntax, bad UTF-8, absurd nesting
                return error(400, f"body is not valid JSON: {exc}")
            try:
                result, decision = answer(doc, server.decider)
            except BadRequest as exc:
                return error(400, str(exc))
            except Exception:
                log.exception("%s failed", api)
                return error(500, "internal error while reviewing; see the webhook log")
            server.metrics.latency.labels(api).observe(time.perf_counter() - started)
            if decision is not None:
                server.record(api, decision, doc)
            return Response(json.dumps(result).encode(), media_type="application/json")

    def endpoint(api: str, answer: Callable[..., Any]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            try:
                body = await _read_body(request)
            except _Refused as exc:
                return error(exc.status, str(exc), close=exc.close)
            except ClientDisconnect:
                return error(400, "the client went away before sending the whole body", close=True)
            return await anyio.to_thread.run_sync(partial(review, api, answer, body), limiter=limiter)

        return handle

    async def health(_request: Request) -> Response:
        failed = server.policies.last_error
        text = "ok" if failed is None else f"ok (serving the last good policy; reload failed: {failed})"
        return PlainTextResponse(text + "\n")

    async def metrics(_request: Request) -> Response:
        return Response(server.metrics.exposition(), media_type=server.metrics.content_type)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status in (404, 405):
            return error(status, f"no such endpoint {request.method} {request.url.path!r}: use {USAGE}")
        return error(status, str(getattr(exc, "detail", "")) or "request refused")

    return Starlette(
        routes=[
            Route("/validate", endpoint("AdmissionReview", review_admission), methods=["POST"]),
            Route("/imagereview", endpoint("ImageReview", review_images), methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/readyz", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[Middleware(CountRequests, server=server)],
        exception_handlers={HTTPException: http_error},
    )
