"""A tiny real HTTP stand-in for the GLM-TTS service, for verify's failure cases (silence, wrong
rate, not a WAV, errors) that the real service should never produce on purpose."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import soundfile as sf


def speech_like(seconds: float, rate: int = 24000, amplitude: float = 0.3) -> np.ndarray:
    """Voiced-sounding audio: a 140 Hz harmonic stack, amplitude-modulated at a syllable rate."""
    t = np.arange(int(seconds * rate)) / rate
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * t))
    return (amplitude * voiced * envelope / 2).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


@dataclass
class Behaviour:
    ready_after: int = 0  # /readyz answers 503 this many times first
    status: int = 200
    body: bytes = b""
    content_type: str = "audio/wav"
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[dict] = field(default_factory=list)


@contextmanager
def serving(behaviour: Behaviour) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/readyz":
                self._send(404, b'{"detail": "not found"}', "application/json")
            elif behaviour.ready_after > 0:
                behaviour.ready_after -= 1
                self._send(503, b'{"detail": "model loading"}', "application/json")
            else:
                self._send(200, b'{"status": "ready"}', "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            behaviour.seen.append(
                {
                    "path": self.path,
                    "json": json.loads(self.rfile.read(length)),
                    "authorization": self.headers.get("Authorization"),
                }
            )
            self._send(behaviour.status, behaviour.body, behaviour.content_type, behaviour.headers)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
