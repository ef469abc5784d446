"""The web page in a real browser: Debian's Chromium driven by Playwright (from PyPI).

Chromium comes from `apt-get install chromium` (`make sysdeps`); `playwright install`, which
downloads a browser build, is never used. Without /usr/bin/chromium the tests skip, except under
CI (CI=true), where they fail. Screenshots go to bench-out/test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "inference"))  # the tone backends shared with the service tests

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "bench-out" / "test-artifacts" / "browser"


def _require_chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = (
        f"Debian's Chromium is not installed at {CHROMIUM}: run `make sysdeps` (apt-get install chromium)"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; CI must run the browser tests")
    pytest.skip(message)


@dataclass
class Server:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def settings(self):
        return self.app.state.service.settings

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_server(tmp: Path, backend=None, **overrides: Any) -> Server:
    from glm_tts_server.config import Settings
    from glm_tts_server.server import create_app

    values = {"data_dir": tmp / "data", "host": "127.0.0.1", "log_level": "warning", **overrides}
    settings = Settings(**values)
    app = create_app(settings, backend=backend)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and app.state.service.lifecycle.ready):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not become ready")
        time.sleep(0.02)
    return Server(f"http://127.0.0.1:{sock.getsockname()[1]}", app, server, thread)


@pytest.fixture
def serve(tmp_path) -> Iterator[Any]:
    """`serve(backend=None, **settings)` → Server, stopped after the test's pages are closed
    (request it before `open_page`, so a page never polls a server that has gone away)."""
    servers: list[Server] = []

    def start(backend=None, **overrides: Any) -> Server:
        server = start_server(tmp_path / f"s{len(servers)}", backend, **overrides)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@dataclass
class Watched:
    """A page with its console errors, uncaught exceptions and failed requests collected."""

    page: Any
    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, words: str) -> None:
        """An error the test provokes on purpose (Chromium logs every 4xx answer to fetch)."""
        self.allowed.append(words)

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(words in p for words in self.allowed)]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Iterator[Any]:
    executable = _require_chromium()
    from playwright.sync_api import sync_playwright

    clip = tmp_path_factory.mktemp("mic") / "microphone.wav"
    from browser.tone import speechlike_wav

    clip.write_bytes(speechlike_wav(seconds=12.0, rate=48000))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable),
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={clip}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, request) -> Iterator[Any]:
    """`open_page(url, **context_options)` → Watched; fails the test on any console error."""
    opened: list[tuple[Any, Watched]] = []

    def open_(url: str, **options: Any) -> Watched:
        context = browser.new_context(accept_downloads=True, **options)
        context.grant_permissions(["microphone"], origin=url)
        page = context.new_page()
        watched = Watched(page)
        page.on("console", lambda m: m.type == "error" and watched.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
        page.on("response", lambda r: r.status >= 400 and watched.problems.append(f"{r.status} for {r.url}"))
        page.goto(url)
        opened.append((context, watched))
        return watched

    yield open_
    for context, watched in opened:
        try:
            watched.screenshot(request.node.name.replace("/", "_"))
        finally:
            context.close()
    problems = [p for _, watched in opened for p in watched.unexpected()]
    assert not problems, problems
