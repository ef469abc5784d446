"""Real servers for the inference tests: uvicorn on 127.0.0.1, on a free port, always stopped.

`start_server(...)` runs the app in a thread (fast; lets a test hand in a backend object);
`start_server_process(...)` runs `glm-tts-server serve` as a subprocess (signals, exit codes).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn
from fastapi import FastAPI
from glm_tts_server.config import Settings
from glm_tts_server.server import create_app

HERE = Path(__file__).resolve().parent
# Registering a voice needs a consent statement unless the server turns the requirement off.
CONSENT = "Recorded for the tests with the speaker's written consent to clone this voice."
READY_TIMEOUT_S = 30.0


def wait_ready(url: str, timeout: float = READY_TIMEOUT_S, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s: {last}")


@dataclass
class ThreadServer:
    app: FastAPI
    settings: Settings
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def service(self):
        return self.app.state.service

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def _settings(tmp: Path, overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp / "data", "host": "127.0.0.1", "log_level": "warning"}
    values.update(overrides)
    return Settings(**values)


def run_in_thread(settings: Settings, backend=None, ready: bool = True) -> ThreadServer:
    app = create_app(settings, backend=backend)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    running = ThreadServer(app, settings, url, server, thread)
    if ready:
        wait_ready(url)
    return running


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ThreadServer]]:
    """`start_server(backend=None, ready=True, **settings)`: a server in a thread, stopped afterwards."""
    servers: list[ThreadServer] = []

    def start(backend=None, ready: bool = True, **overrides: Any) -> ThreadServer:
        server = run_in_thread(_settings(tmp_path / f"s{len(servers)}", overrides), backend, ready)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def espeak_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    """One espeak server shared by a module's read-only tests."""
    server = run_in_thread(_settings(tmp_path_factory.mktemp("espeak"), {}))
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ProcessServer:
    proc: subprocess.Popen
    url: str
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)


@pytest.fixture
def start_server_process(tmp_path: Path) -> Iterator[Callable[..., ProcessServer]]:
    """`start_server_process(ready=True, **GLMTTS_settings)`: `glm-tts-server serve` in a subprocess."""
    procs: list[ProcessServer] = []

    def start(ready: bool = True, extra_env: dict[str, str] | None = None, **overrides: Any) -> ProcessServer:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLMTTS_")}
        env.update(
            {
                "GLMTTS_HOST": "127.0.0.1",
                "GLMTTS_PORT": str(port),
                "GLMTTS_LOG_LEVEL": "info",
                "GLMTTS_DATA_DIR": str(tmp_path / "data"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")])),
            }
        )
        env.update({f"GLMTTS_{k.upper()}": str(v) for k, v in overrides.items()})
        env.update(extra_env or {})
        log_path = tmp_path / f"server-{len(procs)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "glm_tts_server.cli", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = ProcessServer(proc, f"http://127.0.0.1:{port}", log_path, env)
        procs.append(server)
        if ready:
            try:
                wait_ready(server.url, proc=proc)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}\n--- server log ---\n{server.log()}") from None
        return server

    yield start
    for server in procs:
        if server.proc.poll() is None:
            server.proc.kill()
        server.proc.wait(10)


def decode(body: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(body), dtype="float32")
    return samples, rate


def assert_speech(body: bytes, rate: int = 24000, min_s: float = 0.2) -> float:
    """Decoded audio at `rate`, at least `min_s` long, and not silence. Returns its duration."""
    samples, got_rate = decode(body)
    assert got_rate == rate
    duration = len(samples) / got_rate
    assert duration >= min_s, f"only {duration:.3f} s of audio"
    assert float(np.sqrt(np.mean(np.square(samples)))) > 0.01, "the audio is silence"
    return duration


def tone_wav(seconds: float = 4.0, rate: int = 16000, amplitude: float = 0.3, fmt: str = "WAV") -> bytes:
    """A reference 'recording' that passes the 3-10 s / not silent / not clipped checks."""
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    samples = amplitude * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def error_message(response: httpx.Response) -> str:
    """The message of an error: OpenAI's envelope under /v1/*, `{"detail": ...}` elsewhere."""
    body = response.json()
    if response.request.url.path.startswith("/v1/"):
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, body
        return error["message"]
    return body["detail"]
