"""Pure ASGI middleware: request accounting (metrics, in-flight count), drain refusal, body guards.

Pure ASGI rather than `BaseHTTPMiddleware`, so streamed responses pass through untouched and
the latency recorded is the time to the last byte.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_tts_server.constants import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from glm_tts_server.server.errors import error_body
from glm_tts_server.server.guards import guard_body, has_body

if TYPE_CHECKING:
    from glm_tts_server.server.service import Service

# Probes and scrapes keep answering during a drain and are not work a drain waits for.
_OPS_PATHS = frozenset({HEALTHZ_PATH, READYZ_PATH, METRICS_PATH})


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
            await _send_error(
                send,
                path,
                503,
                "server is shutting down: retry, another replica will answer",
                {"Retry-After": "1", "Connection": "close"},
            )
            return
        # A request counts as in flight (what a drain waits for) once its body is all in: a client
        # trickling a body must not hold the pod's shutdown.
        counted = False

        def started() -> None:
            nonlocal counted
            if not counted:
                counted = True
                lifecycle.request_started()

        if not has_body(scope):
            started()
        settings = self.service.settings
        receive = guard_body(scope, receive, settings, settings.body_timeout_s, started)
        try:
            await self._measured(scope, receive, send)
        finally:
            if counted:
                lifecycle.request_finished()

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
