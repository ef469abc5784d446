"""Who is calling and which request this is: the request id and the caller's identity.

`RequestContext` is pure ASGI middleware placed outside the proxy-headers middleware, so it
sees the TCP peer before `X-Forwarded-For` rewrites it: identity headers (`X-Forwarded-Email`,
`X-Forwarded-User`) are believed only from the oauth2-proxy sidecar, which shares the pod's
network namespace and so connects from loopback. Every response carries `X-Request-ID` (the
client's, when it sent a sane one, else a fresh one).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PEER_KEY = "glmtts.peer"
_ID_KEY = "glmtts.request_id"


class RequestContext:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, b"x-request-id")
        request_id = sent if sent and _REQUEST_ID_RE.fullmatch(sent) else uuid.uuid4().hex
        scope[_PEER_KEY] = (scope.get("client") or ("", 0))[0]
        scope[_ID_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1").strip()
    return None


def request_id(request: Request) -> str:
    return request.scope.get(_ID_KEY) or uuid.uuid4().hex


def _from_sidecar(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Caller:
    id: str
    source: str  # "proxy" (oauth2-proxy identity), "api-key" (the key's name) or "anonymous"


def caller(request: Request) -> Caller:
    """The identity to hold accountable for this request."""
    if _from_sidecar(request.scope.get(_PEER_KEY, "")):
        for header in ("x-forwarded-email", "x-forwarded-user"):
            value = (request.headers.get(header) or "").strip()
            if value:
                return Caller(value[:256], "proxy")
    settings = request.app.state.service.settings
    if settings.api_key is not None:  # the route's dependency has checked it by now
        return Caller(settings.api_key_name, "api-key")
    return Caller("anonymous", "anonymous")
