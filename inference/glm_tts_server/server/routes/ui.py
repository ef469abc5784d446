"""`GET /`: the operator page, plain HTML, CSS and JS shipped in the package (no build step).

Scripts and styles are separate files (never inline), so the page is served with a strict
Content-Security-Policy: scripts, styles and calls from this origin only, audio from this origin
or the blobs the page makes, and no framing (clickjacking).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

# The files the page is made of, with their media types: nothing else under static/ is served.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("glm_tts_server").joinpath("static", name).read_bytes()


def security_headers() -> dict[str, str]:
    return dict(SECURITY_HEADERS)


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse(_read("index.html"), headers=security_headers())


@router.get("/static/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no such file: {name}")
    return Response(_read(name), media_type=ASSETS[name], headers=security_headers())


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(_read("favicon.svg"), media_type=ASSETS["favicon.svg"], headers=security_headers())
