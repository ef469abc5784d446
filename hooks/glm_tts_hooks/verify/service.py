"""Talk to the GLM-TTS service the way a client does: readiness, then one real synthesis."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx

READYZ_PATH = "/readyz"  # glm_tts_server.constants; the hooks image does not ship the server
TTS_PATH = "/v1/tts"


@dataclass(frozen=True)
class Synthesis:
    status: int
    body: bytes
    content_type: str
    latency: float
    headers: httpx.Headers


def wait_ready(http: httpx.Client, deadline: float, poll: float) -> tuple[bool, str, float]:
    """GET /readyz until 200 or the deadline; (ready, last answer, seconds waited)."""
    start = time.monotonic()
    last = "no answer yet"
    while True:
        try:
            response = http.get(READYZ_PATH, timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            if response.status_code == 200:
                return True, f"200 {response.text.strip()[:120]}", time.monotonic() - start
            last = f"{response.status_code} {response.text.strip()[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + poll > deadline:
            return False, last, time.monotonic() - start
        time.sleep(poll)


def synthesize(http: httpx.Client, text: str, voice: str | None, deadline: float) -> Synthesis:
    payload = {"text": text, "response_format": "wav"}
    if voice:
        payload["voice"] = voice
    start = time.monotonic()
    response = http.post(TTS_PATH, json=payload, timeout=max(0.1, deadline - start))
    return Synthesis(
        status=response.status_code,
        body=response.content,
        content_type=response.headers.get("content-type", ""),
        latency=time.monotonic() - start,
        headers=response.headers,
    )


def error_detail(synthesis: Synthesis) -> str:
    """The service's `{"detail": ...}` message, else the start of the body."""
    try:
        return str(json.loads(synthesis.body)["detail"])
    except (ValueError, KeyError, TypeError):
        return synthesis.body[:200].decode("utf-8", "replace")
