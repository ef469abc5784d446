"""`GET /`: the small operator page (plain HTML + JS shipped in the package, no build step).

Served with a Content-Security-Policy that allows only the page's own inline script and style
(by hash), calls to this origin and the audio it makes; no framing (clickjacking).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_INLINE = {
    "script": re.compile(r"<script>(.*?)</script>", re.S),
    "style": re.compile(r"<style>(.*?)</style>", re.S),
}


@cache
def _page() -> str:
    return resources.files("glm_tts_server").joinpath("static/index.html").read_text(encoding="utf-8")


def _hashes(kind: str, page: str) -> str:
    digests = (hashlib.sha256(block.encode("utf-8")).digest() for block in _INLINE[kind].findall(page))
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests) or "'none'"


@cache
def security_headers() -> dict[str, str]:
    page = _page()
    policy = (
        f"default-src 'none'; script-src {_hashes('script', page)}; style-src {_hashes('style', page)}; "
        "connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse(_page(), headers=security_headers())
