"""The project's images as the tests build them: name, Containerfile, and how to start each one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import buildah

SERVICE_CPU = "localhost/glm-tts/glm-tts-cpu:test"
HOOKS = "localhost/glm-tts/glm-tts-hooks:test"
CONTAINERFILES = {SERVICE_CPU: "inference/Containerfile.cpu", HOOKS: "hooks/Containerfile"}
VENVS = {SERVICE_CPU: "/opt/venv", HOOKS: "/opt/glm-tts-hooks"}


@dataclass
class Container:
    name: str
    mountpoint: str

    def run(
        self, *command: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the container as the image's user (no shell involved)."""
        flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
        return subprocess.run(
            [
                "buildah",
                *buildah.storage_flags(),
                "run",
                "--isolation",
                "chroot",
                *flags,
                self.name,
                "--",
                *command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextmanager
def container(reference: str) -> Iterator[Container]:
    name = buildah.buildah("from", "--pull=never", reference).stdout.strip()
    try:
        mountpoint = buildah.buildah("mount", name).stdout.strip()
        yield Container(name, mountpoint)
    finally:
        buildah.buildah("rm", name, check=False)


def entrypoint(reference: str) -> list[str]:
    config = buildah.image_config(reference)
    return [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(box: Container, reference: str, startup_seconds: float = 60) -> Iterator[str]:
    """Start the image's ENTRYPOINT + CMD on a loopback port (chroot isolation shares the host's
    network); yield its base URL once /readyz answers 200."""
    port = free_port()
    command = [
        "buildah",
        *buildah.storage_flags(),
        "run",
        "--isolation",
        "chroot",
        "--env=GLMTTS_HOST=127.0.0.1",
        f"--env=GLMTTS_PORT={port}",
        box.name,
        "--",
        *entrypoint(reference),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the entrypoint exited ({process.returncode}):\n{process.stdout.read()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError(f"/readyz not 200 within {startup_seconds} s")
        yield url
    finally:
        process.terminate()  # SIGTERM: the server drains and exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_sbom(box: Container, venv: str, output: Path) -> Path:
    """A CycloneDX SBOM of the image's Python environment, by cyclonedx-py (CycloneDX's own
    generator). It asks the venv's interpreter for its paths: the local base and the image share
    Debian's Python 3.11, so the interpreter run is the image's and the metadata read is the image's."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cyclonedx_py",
            "environment",
            "--output-reproducible",
            "--of",
            "JSON",
            "-o",
            str(output),
            f"{box.mountpoint}{venv}/bin/python3",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return output
