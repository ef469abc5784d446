"""Build and run the project's images with buildah (daemonless, chroot isolation, vfs storage).

No registry can be pulled from on the development and CI machines, so the images are built from a
local base: Debian bookworm made with `debootstrap --variant=minbase` (what the official
debian:bookworm-slim is made from) and imported with `buildah from scratch` + commit. The base and
buildah's layer cache live outside the repository (~/.cache/glm-tts/images, or
$GLM_TTS_IMAGE_CACHE), so they are made once per machine and later builds reuse every unchanged layer.
Needs root (buildah with vfs, debootstrap) and `make sysdeps`; otherwise the image tests skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("GLM_TTS_IMAGE_CACHE", Path.home() / ".cache" / "glm-tts" / "images"))
LOCAL_BASE = "localhost/glm-tts-test-base:bookworm"
DEBIAN_MIRROR = os.environ.get("GLM_TTS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The host's trust store, mounted read-only into build steps so pip trusts the same proxies the
# host does; it never lands in an image (the final stages start FROM scratch).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def storage_flags() -> list[str]:
    return ["--storage-driver", "vfs", "--root", str(CACHE / "storage"), "--runroot", str(CACHE / "run")]


def missing_prerequisite() -> str | None:
    """Why images cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building images needs root (buildah with vfs storage, debootstrap)"
    for tool in ("buildah", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run `make sysdeps` as root (installs buildah, debootstrap)"
    return None


def require_buildah() -> None:
    reason = missing_prerequisite()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason}; CI must build the images")
    pytest.skip(reason)


def buildah(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["buildah", *storage_flags(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


@contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """Serialise base creation and builds across test workers (xdist) and concurrent runs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def image_exists(reference: str) -> bool:
    return buildah("inspect", "--type", "image", reference, check=False).returncode == 0


def ensure_local_base() -> str:
    """The debootstrapped bookworm base image, made once per machine."""
    with _machine_lock("base"):
        if image_exists(LOCAL_BASE):
            return LOCAL_BASE
        rootfs = CACHE / "bookworm-rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        # What debian:bookworm-slim does too: no apt caches or documentation in the base.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / leftover).glob("*.deb" if "archives" in leftover else "*_*"):
                entry.unlink()
        container = buildah("from", "scratch").stdout.strip()
        try:
            mountpoint = buildah("mount", container).stdout.strip()
            subprocess.run(["cp", "-a", f"{rootfs}/.", mountpoint], check=True)
            buildah("umount", container)
            buildah(
                "config",
                "--cmd",
                "/bin/bash",
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                container,
            )
            buildah("commit", "--rm", container, LOCAL_BASE)
        except BaseException:
            buildah("rm", container, check=False)
            raise
        shutil.rmtree(rootfs, ignore_errors=True)
        return LOCAL_BASE


INPUTS_LABEL = "io.glm-tts.test.build-inputs"


@dataclass(frozen=True)
class Build:
    reference: str
    seconds: float
    log: str
    reused: bool = False  # the image was already built from exactly these inputs


def _context_files() -> list[Path]:
    """What the builder receives: the allow-list entries (`!path`) of .dockerignore, without bytecode."""
    files = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        if line.startswith("!"):
            entry = ROOT / line[1:].strip().rstrip("/")
            candidates = sorted(entry.rglob("*")) if entry.is_dir() else [entry]
            files += [
                f for f in candidates if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"
            ]
    return files


def _inputs_digest(containerfile: str, args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update((ROOT / containerfile).read_bytes())
    digest.update(json.dumps(args, sort_keys=True).encode())
    digest.update(
        json.loads(buildah("inspect", "--type", "image", args["BASE_IMAGE"]).stdout)["FromImageID"].encode()
    )
    for path in _context_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(
    containerfile: str, reference: str, *, build_args: dict[str, str] | None = None, force: bool = False
) -> Build:
    """`buildah bud` of a Containerfile with the repository root as context, from the local base.

    Skipped when `reference` was built from the same Containerfile, context files, arguments and base
    (even buildah's layer cache costs minutes with vfs, which copies every stage's root filesystem);
    `force` rebuilds through the layer cache anyway."""
    base = ensure_local_base()
    args = {"BASE_IMAGE": base, **(build_args or {})}
    inputs = _inputs_digest(containerfile, args)
    if (
        not force
        and image_exists(reference)
        and image_config(reference).get("Labels", {}).get(INPUTS_LABEL) == inputs
    ):
        return Build(reference, 0.0, "", reused=True)
    command = ["bud", "--isolation", "chroot", "--layers", "--pull=never", "-f", containerfile]
    command += ["-t", reference, "--label", f"{INPUTS_LABEL}={inputs}"]
    if HOST_CA_BUNDLE.is_file():
        command += ["--volume", f"{HOST_CA_BUNDLE}:/run/host-ca.crt:ro"]
        args.setdefault("PIP_CERT", "/run/host-ca.crt")
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    with _machine_lock("build"):
        started = time.monotonic()
        result = subprocess.run(
            ["buildah", *storage_flags(), *command, str(ROOT)],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"building {containerfile} failed:\n{(result.stdout + result.stderr)[-6000:]}")
    return Build(reference, seconds, result.stdout)


def image_config(reference: str) -> dict:
    """The OCI image config (user, entrypoint, env, labels...)."""
    return json.loads(buildah("inspect", "--type", "image", reference).stdout)["OCIv1"]["config"]
