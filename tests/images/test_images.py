"""The service (CPU) and hooks images, built for real with buildah and started from their entrypoints.

Proves what a cluster relies on: the entrypoint serves (/readyz, one synthesis decoded as audio),
the hooks CLI answers, the process runs as uid 65532, no shell is in either image, and both push to
and pull back from a real OCI registry by digest. Each image also gets a CycloneDX SBOM.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from image_policy.registry_fixture import LocalRegistry, oci_registry_binary

from . import buildah
from .images import HOOKS, SERVICE_CPU, VENVS, entrypoint, serving, write_sbom

# The first build on a machine takes minutes (debootstrap, apt, pip); later ones reuse the layer cache.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
SHELLS = ("bin/sh", "bin/bash", "bin/dash", "usr/bin/sh", "usr/bin/bash", "usr/bin/dash", "bin/busybox")


@pytest.mark.parametrize("reference", [SERVICE_CPU, HOOKS])
def test_image_runs_as_numeric_non_root_user(boxes, reference):
    assert buildah.image_config(reference)["User"] == "65532:65532"
    result = boxes[reference].run("python3", "-c", "import os; print(os.getuid(), os.getgid())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["65532", "65532"]


@pytest.mark.parametrize("reference", [SERVICE_CPU, HOOKS])
def test_image_has_no_shell(boxes, reference):
    box = boxes[reference]
    present = [shell for shell in SHELLS if (Path(box.mountpoint) / shell).exists()]
    assert not present, f"{reference} carries a shell: {present}"
    assert box.run("/bin/sh", "-c", "true").returncode != 0
    # What the platform does exec: Tekton's `#!/usr/bin/env python3` scripts and `sleep` in preStop.
    assert box.run("/usr/bin/env", "python3", "-c", "pass").returncode == 0
    assert box.run("sleep", "0").returncode == 0


def test_service_image_serves_speech_from_its_entrypoint(boxes):
    assert entrypoint(SERVICE_CPU) == ["glm-tts-server", "serve"]
    with serving(boxes[SERVICE_CPU], SERVICE_CPU) as url:
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        reply = httpx.post(
            f"{url}/v1/audio/speech",
            json={
                "model": "glm-tts",
                "input": "The image speaks.",
                "voice": "alloy",
                "response_format": "wav",
            },
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        audio, rate = soundfile.read(io.BytesIO(reply.content))
        assert rate == 24000
        assert 0.5 < len(audio) / rate < 10
        assert np.sqrt(np.mean(np.square(audio))) > 0.01, "the synthesis is silence"
        assert "glmtts_" in httpx.get(f"{url}/metrics", timeout=5).text


def test_hooks_image_entrypoint_prints_help(boxes):
    assert entrypoint(HOOKS) == ["glm-tts-hooks", "--help"]
    result = boxes[HOOKS].run(*entrypoint(HOOKS))
    assert result.returncode == 0, result.stderr
    for verb in ("preflight", "verify"):
        assert verb in result.stdout


def test_images_push_to_and_pull_from_a_registry_by_digest(built_images, tmp_path):
    registry = LocalRegistry(oci_registry_binary(), tmp_path)
    registry.start()
    try:
        for reference in (SERVICE_CPU, HOOKS):
            repository = reference.split("/", 1)[1].split(":")[0]
            target = f"{registry.host}/{repository}:test"
            digest_file = tmp_path / "digest"
            buildah.buildah(
                "push",
                "--tls-verify=false",
                "--digestfile",
                str(digest_file),
                reference,
                f"docker://{target}",
            )
            digest = digest_file.read_text().strip()
            manifest = httpx.get(
                f"{registry.url}/v2/{repository}/manifests/test",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                timeout=10,
            )
            assert manifest.headers["Docker-Content-Digest"] == digest
            config_digest = manifest.json()["config"]["digest"]
            config = httpx.get(f"{registry.url}/v2/{repository}/blobs/{config_digest}", timeout=10).json()
            assert config["config"]["User"] == "65532:65532"
            pulled = buildah.buildah("pull", "--tls-verify=false", f"{registry.host}/{repository}@{digest}")
            assert pulled.returncode == 0
    finally:
        registry.stop()


@pytest.mark.parametrize("reference", [SERVICE_CPU, HOOKS])
def test_cyclonedx_sbom_lists_the_image_packages(boxes, reference, tmp_path):
    package = "glm-tts-server" if reference == SERVICE_CPU else "glm-tts-hooks"
    sbom = write_sbom(boxes[reference], VENVS[reference], tmp_path / "sbom.json")
    document = json.loads(sbom.read_text())
    assert document["bomFormat"] == "CycloneDX"
    names = {component["name"] for component in document["components"]}
    assert package in names
    assert "numpy" in names
    # Our own package is installed from the source tree, so it has no registry purl; the rest do.
    others = [c for c in document["components"] if c["name"] != package]
    assert all(c.get("purl", "").startswith("pkg:pypi/") for c in others)
