"""The hooks CLI against the real API server, authenticated as the chart's own ServiceAccounts (so
the chart's RBAC is what is tested), with the real scheduler as the judge of preflight's verdict."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.control_plane import ControlPlane

from .helpers import GLM_TTS, Helm, pods, wait_for

RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def render(helm: Helm, release: str, namespace: str, profile: str, *sets: str) -> list[dict[str, Any]]:
    args = ["-n", namespace, "-f", str(GLM_TTS / "ci" / f"{profile}-values.yaml")]
    for item in sets:
        args += ["--set", item]
    out = helm("template", release, str(GLM_TTS), *args).stdout
    import yaml

    return [d for d in yaml.safe_load_all(out) if d]


def hook_rbac(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The RBAC objects of the chart's hooks (they live only while a hook runs), made plain objects
    so the ServiceAccount stays for the test; the release's own objects are left to helm."""
    return [
        without_hook_annotations(d)
        for d in docs
        if d["kind"] in RBAC_KINDS and "helm.sh/hook" in (d["metadata"].get("annotations") or {})
    ]


def without_hook_annotations(obj: dict[str, Any]) -> dict[str, Any]:
    annotations = obj["metadata"].get("annotations") or {}
    obj["metadata"]["annotations"] = {
        k: v for k, v in annotations.items() if not k.startswith(("helm.sh/hook", "argocd.argoproj.io/"))
    }
    return obj


def hook_job(docs: list[dict[str, Any]], verb: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] != "Job":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        if (container.get("args") or [None])[0] == verb:
            return doc
    raise AssertionError(f"the chart renders no Job running `glm-tts-hooks {verb}`")


def run_hooks(
    verb: str, args: list[str], kubeconfig: Path, plane: ControlPlane, timeout: float = 180
) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "glm_tts_hooks.cli",
            verb,
            *args,
            "--kubeconfig",
            str(kubeconfig),
            "--output",
            "json",
        ],
        env=plane.env(kubeconfig),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"glm-tts-hooks {verb} printed no JSON (rc {proc.returncode}):\n{proc.stderr}"
        ) from None
    return proc.returncode, report


def failing(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"] if c["status"] == "fail"}


def preflight_as_chart(
    plane: ControlPlane, docs: list[dict[str, Any]], namespace: str, replicas: int
) -> tuple[int, dict[str, Any]]:
    job = hook_job(docs, "preflight")
    pod_spec = job["spec"]["template"]["spec"]
    args = [a for a in pod_spec["containers"][0]["args"][1:] if not a.startswith("--replicas=")]
    kubeconfig = plane.service_account_kubeconfig(namespace, pod_spec["serviceAccountName"])
    return run_hooks("preflight", [*args, f"--replicas={replicas}"], kubeconfig, plane)


def test_preflight_verdict_matches_the_scheduler(
    control_plane: ControlPlane, helm4: Helm, namespace: str
) -> None:
    release = "pf"
    docs = render(helm4, release, namespace, "gpu")
    control_plane.apply(hook_rbac(docs))
    resource = next(
        a.split("=", 1)[1]
        for a in hook_job(docs, "preflight")["spec"]["template"]["spec"]["containers"][0]["args"]
        if a.startswith("--gpu-resource=")
    )

    rc, report = preflight_as_chart(control_plane, docs, namespace, replicas=1)
    assert rc == 0, f"preflight refused one replica on an idle GPU cluster: {report}"
    slots = report["summary"]["replica_slots"]
    assert slots >= 1

    rc, over = preflight_as_chart(control_plane, docs, namespace, replicas=slots + 1)
    assert rc == 1, f"preflight accepted {slots + 1} replicas where it counted {slots} slots: {over}"
    assert "gpu-capacity" in failing(over), over

    # Now let the scheduler judge: the chart's own Deployment with slots + 1 replicas.
    gpu_values = str(GLM_TTS / "ci" / "gpu-values.yaml")
    overflow = [f"replicaCount={slots + 1}", "preflight.enabled=false"]
    helm4("install", release, str(GLM_TTS), "-n", namespace, "-f", gpu_values,
          *[arg for item in overflow for arg in ("--set", item)], "--timeout", "5m")  # fmt: skip

    def settled() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        released = pods(control_plane, namespace, f"app.kubernetes.io/instance={release}")
        app = [p for p in released if p["spec"].get("restartPolicy", "Always") == "Always"]
        running = [p for p in app if p["status"].get("phase") == "Running"]
        pending = [
            p
            for p in app
            if any(
                c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
                for c in p["status"].get("conditions", [])
            )
        ]
        return (
            (running, pending) if len(running) + len(pending) == slots + 1 and len(running) == slots else None
        )

    _, pending = wait_for(settled, f"{slots} pods placed and one Pending", timeout=120)
    assert len(pending) == 1
    message = next(c["message"] for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert f"Insufficient {resource}" in message, (
        f"preflight blamed gpu-capacity ({failing(over)['gpu-capacity']['detail']}) "
        f"but the scheduler says: {message}"
    )
    helm4("uninstall", release, "-n", namespace, "--wait", "--timeout", "5m")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _verify_as_chart(
    plane: ControlPlane, helm: Helm, release: str, namespace: str, timeout: int
) -> tuple[int, dict[str, Any]]:
    docs = render(helm, release, namespace, "cpu")
    plane.apply(hook_rbac(docs))
    job = hook_job(docs, "verify")
    pod_spec = job["spec"]["template"]["spec"]
    args = pod_spec["containers"][0]["args"][1:]
    flags = dict(a.split("=", 1) for a in args if a.startswith("--") and "=" in a)
    kubeconfig = plane.service_account_kubeconfig(namespace, pod_spec["serviceAccountName"])
    # the pods run nowhere under kwok, so the service part is aimed at a closed local port: only
    # the rollout check (through the API, as the chart's verify ServiceAccount) can pass
    return run_hooks(
        "verify",
        ["--namespace", namespace, "--deployment", flags["--deployment"],
         "--url", f"http://127.0.0.1:{_closed_port()}", "--timeout", str(timeout), "--poll-interval", "0.5"],
        kubeconfig,
        plane,
    )  # fmt: skip


def _check(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"].startswith(prefix))


def test_verify_sees_the_rollout_through_the_api(
    control_plane: ControlPlane, helm4: Helm, namespace: str, tmp_path: Path
) -> None:
    release = "vf"
    values = str(GLM_TTS / "ci" / "cpu-values.yaml")
    helm4("install", release, str(GLM_TTS), "-n", namespace, "-f", values, "--wait", "--timeout", "5m")
    rc, report = _verify_as_chart(control_plane, helm4, release, namespace, timeout=20)
    assert _check(report, "rollout")["status"] == "pass", report
    assert rc == 1  # /readyz cannot answer: nothing listens

    # a rollout that cannot finish: the new pods fit no node
    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text("nodeSelector:\n  pool: nonexistent\n")
    helm4(
        "upgrade", release, str(GLM_TTS), "-n", namespace, "-f", values, "-f", str(nowhere), "--timeout", "5m"
    )

    rc, report = _verify_as_chart(control_plane, helm4, release, namespace, timeout=15)
    assert rc == 1
    assert _check(report, "rollout")["status"] == "fail", report
