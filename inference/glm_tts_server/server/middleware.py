"""Pure ASGI middleware: request accounting (metrics, in-flight count), drain refusal, body limit.

Pure ASGI rather than `BaseHTTPMiddleware`, so streamed responses pass through untouched and
the latency recorded is the time to the last byte.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_tts_server.constants import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from glm_tts_server.server.errors import error_body

if TYPE_CHECKING:
    from glm_tts_server.server.service import Service

# Probes and scrapes keep answering during a drain and are not work a drain waits for.
_OPS_PATHS = frozenset({HEALTHZ_PATH, READYZ_PATH, METRICS_PATH})
# Multipart and JSON framing around an upload, on top of its base64 growth (4/3).
_BODY_OVERHEAD = 64 * 1024


async def _send_error(send: Send, path: str, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps(error_body(path, status, detail)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, service: Service):
        self.app = app
        self.service = service
        self.max_body = service.settings.max_upload_bytes * 4 // 3 + _BODY_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in _OPS_PATHS:
            await self._measured(scope, receive, send)
            return
        lifecycle = self.service.lifecycle
        if lifecycle.draining and (path.startswith("/v1/") or path.startswith("/admin/")):
            # Connection: close makes keep-alive clients reconnect, to a pod that is not leaving.
            self.service.metrics.rejected.labels("not_ready").inc()
            await _send_error(send, path, 503, "server is shutting down: retry, another replica will answer",
                              {"Retry-After": "1", "Connection": "close"})
            return
        lifecycle.request_started()
        try:
            await self._measured(scope, self._limited(scope, receive), send)
        finally:
            lifecycle.request_finished()

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        limit = self.max_body
        too_large = HTTPException(413, f"request body is larger than {limit} bytes: uploads are limited to "
                                       f"{self.service.settings.max_upload_bytes} bytes of audio")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                async def refuse() -> Message:
                    raise too_large
                return refuse
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large
            return message
        return counting

    async def _measured(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labels = (template, scope["method"], str(status))
            metrics = self.service.metrics
            metrics.requests.labels(*labels).inc()
            metrics.latency.labels(*labels).observe(time.perf_counter() - started)
