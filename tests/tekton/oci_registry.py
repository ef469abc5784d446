"""A real OCI registry on 127.0.0.1 for the bundle tests: Debian's `docker-registry` (`make sysdeps`).

(The image-policy suite has a richer one, with auth and TLS; bundles need plain loopback HTTP only.)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or shutil.which("docker-registry", path="/usr/bin")


@contextmanager
def local_registry(workdir: Path) -> Iterator[str]:
    """Run docker-registry on a free loopback port; yield its host:port."""
    binary = registry_binary()
    if binary is None:
        raise FileNotFoundError("docker-registry is not installed: run `make sysdeps`")
    workdir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):  # a free port can be taken between probe and bind
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            host = f"127.0.0.1:{sock.getsockname()[1]}"
        config = workdir / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "version": 0.1,
                    "log": {"level": "error", "accesslog": {"disabled": True}},
                    "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
                    "http": {"addr": host, "secret": "test-only-secret"},
                }
            )
        )
        with (workdir / "registry.log").open("ab") as log:
            process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://{host}/v2/", timeout=1).status_code == 200:
                        yield host
                        return
                except httpx.TransportError:
                    time.sleep(0.05)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    raise RuntimeError(f"docker-registry did not start; see {workdir / 'registry.log'}")
