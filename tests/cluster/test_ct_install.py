"""`ct install` (chart-testing) of charts/glm-tts against the real control plane: every
ci/*-values.yaml profile installed with --wait, `helm test`-ed and removed, as chart maintainers run
it in CI. The namespace holds what the full and OAuth profiles expect to exist already (the API key
and OAuth Secrets, the shared model claim), as a platform team would provide them."""

from __future__ import annotations

import subprocess

from harness.control_plane import ControlPlane
from harness.paths import REPO
from harness.tools import require_tool

from .helpers import GLM_TTS


def prerequisites(namespace: str) -> list[dict]:
    def secret(name: str, data: dict[str, str]) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                "type": "Opaque", "stringData": data}  # fmt: skip

    return [
        secret("glm-tts-api", {"api-key": "ct-install-key", "admin-token": "ct-install-admin"}),
        secret("glm-tts-oauth2-proxy", {"client-id": "glm-tts", "client-secret": "s3cret",
                                        "cookie-secret": "0123456789abcdef0123456789abcdef"}),
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "glm-tts-models", "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "50Gi"}}},
        },
    ]  # fmt: skip


def test_ct_install_every_ci_profile(control_plane: ControlPlane, namespace: str) -> None:
    ct = require_tool("ct")
    control_plane.require_crds()  # the full profile renders ServiceMonitor, PrometheusRule, HTTPRoute
    control_plane.apply(prerequisites(namespace))
    proc = subprocess.run(
        [str(ct), "install", "--config", str(REPO / "ct.yaml"), "--charts", str(GLM_TTS.relative_to(REPO)),
         "--namespace", namespace, "--helm-extra-args", "--timeout 300s"],
        cwd=REPO, env=control_plane.env(), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    profiles = sorted(p.name for p in (GLM_TTS / "ci").glob("*-values.yaml"))
    for profile in profiles:
        assert profile in output, f"ct install did not install {profile}"
    assert "All charts installed successfully" in output
