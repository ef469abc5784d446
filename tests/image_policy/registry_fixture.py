"""A real OCI registry for the tests: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1.

Installed by `make sysdeps` (part of `make tools`). Each test gets its own process, free port
and storage directory, so tests stay parallel-safe under xdist.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

REGISTRY_BINARY = "docker-registry"
STARTUP_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRegistry:
    def __init__(
        self, binary: str, workdir: Path, auth: dict | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.auth = auth  # the registry's `auth:` config section, e.g. {"silly": {...}}
        self.tls = tls  # (certificate, key): serve HTTPS instead of plain HTTP
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self) -> None:
        # A free port can be taken between probe and bind: retry with another.
        for _attempt in range(5):
            self.port = _free_port()
            config = self.workdir / "config.yml"
            settings = {
                "version": 0.1,
                "log": {"level": "error", "accesslog": {"disabled": True}},
                "storage": {
                    "filesystem": {"rootdirectory": str(self.workdir / "storage")},
                    "delete": {"enabled": True},
                },
                "http": {"addr": self.host, "secret": "test-only-secret"},
            }
            if self.auth:
                settings["auth"] = self.auth
            if self.tls:
                settings["http"]["tls"] = {"certificate": str(self.tls[0]), "key": str(self.tls[1])}
            config.write_text(yaml.safe_dump(settings))
            log = (self.workdir / "registry.log").open("ab")
            self.process = subprocess.Popen([self.binary, "serve", str(config)], stdout=log, stderr=log)
            log.close()
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"docker-registry did not start; see {self.workdir / 'registry.log'}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                # 401: up, and asking for credentials (a registry configured with auth)
                if httpx.get(f"{self.url}/v2/", timeout=1, verify=False).status_code in (200, 401):  # noqa: S501 - readiness probe only
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def oci_registry_binary() -> str:
    """Path of docker-registry, or skip the calling test saying how to install it."""
    binary = shutil.which(REGISTRY_BINARY) or shutil.which(REGISTRY_BINARY, path="/usr/bin")
    if binary is None:
        pytest.skip(
            "docker-registry is not installed: run `make sysdeps` as root "
            "(apt-get install docker-registry) to test signatures against a real registry"
        )
    return binary


@pytest.fixture
def oci_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    binary = oci_registry_binary()
    workdir = tmp_path / "registry"
    workdir.mkdir()
    registry = LocalRegistry(binary, workdir)
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()
