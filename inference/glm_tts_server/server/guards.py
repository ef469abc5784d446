"""Defences against hostile clients that run before any route parses a byte.

- Request bodies: a size limit per route (the declared Content-Length and the bytes actually
  streamed), a deadline for the whole body (a client trickling bytes cannot hold a request
  open), and a cap on the JSON structure a body may carry, checked in linear time before the
  framework parses it on the event loop.
- Cross-site requests: with no API key (the default) any web page the operator visits could
  post to the service, since CORS "simple" requests (form posts, multipart, text/plain) need no
  preflight. State changes are refused when the browser says they come from another site.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_tts_server.config import Settings
from glm_tts_server.constants import BATCH_PATH, TTS_PATH, VOICES_PATH

# Headers, JSON or multipart framing and short fields around the payload a route expects.
FRAMING_BYTES = 64 * 1024
# A JSON-escaped character takes at most 6 bytes (\uXXXX).
JSON_BYTES_PER_CHAR = 6
# Colons and commas a legitimate JSON request holds besides those in its texts: field separators.
JSON_FIELDS = 64
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of requests a browser made for this server's own page, or typed in.
SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The most bytes a request body to this route may have: only uploads get megabytes."""
    text_body = max(FRAMING_BYTES, settings.max_input_chars * JSON_BYTES_PER_CHAR + FRAMING_BYTES)
    if method != "POST":
        return FRAMING_BYTES
    if path == TTS_PATH:  # an inline prompt_audio, base64 in JSON (4/3 of the audio's size)
        return settings.max_upload_bytes * 4 // 3 + text_body
    if path == VOICES_PATH:  # the audio itself in a multipart form
        return settings.max_upload_bytes + FRAMING_BYTES
    if path == BATCH_PATH:  # JSONL lines; how many a batch may hold is the batch API's to say
        return settings.max_upload_bytes * 4 // 3 + FRAMING_BYTES
    return text_body


def max_json_separators(settings: Settings) -> int:
    """Colons plus commas a JSON body may hold: its texts may use them, the rest is fields."""
    return 2 * (settings.max_input_chars + 1000) + JSON_FIELDS


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return bool(_header(scope, b"transfer-encoding")) or (
        length is not None and length.strip() not in ("", "0")
    )


def guard_body(
    scope: Scope, receive: Receive, settings: Settings, timeout_s: float, on_complete: Callable[[], None]
) -> Receive:
    """Wrap `receive`: 413 past the route's limit, 408 past the body deadline, 422 for JSON bodies
    with more structure than any request needs. `on_complete` runs once the body is all in."""
    limit = body_limit(settings, scope["method"], scope["path"])
    too_large = HTTPException(
        413,
        f"request body is larger than {limit} bytes, the limit for "
        f"{scope['method']} {scope['path'][:100]}: uploads are limited to "
        f"{settings.max_upload_bytes} bytes of audio, texts to "
        f"{settings.max_input_chars} characters",
    )
    length = _header(scope, b"content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:

        async def refuse() -> Message:
            raise too_large

        return refuse
    is_json = (_header(scope, b"content-type") or "").split(";")[0].strip().lower() == "application/json"
    separators_allowed = max_json_separators(settings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    received = 0
    separators = 0
    complete = False

    async def guarded() -> Message:
        nonlocal received, separators, complete
        if complete:  # after the body: waiting for a disconnect has no deadline
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise HTTPException(
                408,
                f"the request body did not arrive within {timeout_s:g} s: send it at "
                "once, or check the network",
                {"Connection": "close"},
            ) from None
        if message["type"] != "http.request":
            complete = True
            return message
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise too_large
        if is_json:
            # bytes.count runs at memory speed: no parse of a body that is mostly structure.
            separators += chunk.count(b":") + chunk.count(b",")
        if not message.get("more_body", False):
            complete = True
            on_complete()
            # Refused once it is all in (within the size limit), so the client reads a clean answer.
            if separators > separators_allowed:
                raise HTTPException(
                    422,
                    f"request body holds {separators} JSON separators, more than any "
                    "request needs: send one object with the documented fields",
                )
        return message

    return guarded


def cross_site_refusal(scope: Scope) -> str | None:
    """Why a browser request from another site must not change state here, or None."""
    if scope["method"] not in STATE_CHANGING:
        return None
    site = _header(scope, b"sec-fetch-site")
    if site is not None and site.strip().lower() not in SAME_SITE_FETCH:
        return f"the browser marks this request as {site.strip()[:20]!r} (Sec-Fetch-Site)"
    origin = _header(scope, b"origin")
    if origin is None:
        return None  # not a browser, or a same-origin GET-like navigation: nothing to judge
    host = (_header(scope, b"host") or "").strip().lower()
    if origin.strip().lower() == "null" or urlsplit(origin.strip()).netloc.lower() != host:
        return f"it comes from the web page at Origin {origin.strip()[:100]!r}, not from this server's own"
    return None


ErrorRenderer = Callable[[Request, HTTPException], Awaitable[Response]]


class CrossSiteGuard:
    """403 for state-changing requests that a browser made on behalf of another site.

    `render` turns the refusal into the app's own error body (its HTTPException handler), as
    this runs outside the routes' exception handling.
    """

    def __init__(self, app: ASGIApp, render: ErrorRenderer):
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = cross_site_refusal(scope) if scope["type"] == "http" else None
        if reason is None:
            await self.app(scope, receive, send)
            return
        exc = HTTPException(
            403,
            f"cross-site request refused: {reason}. Call the API from a server-side "
            "client (curl, the OpenAI client) or from this server's page at /",
        )
        response = await self.render(Request(scope), exc)
        await response(scope, receive, send)
