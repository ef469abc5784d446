"""What an Argo CD sync of charts/glm-tts applies, applied the way Argo CD applies it: the chart
rendered with the Application's values, split into PreSync hooks, the Sync phase and PostSync hooks
(Helm hooks mapped as Argo CD maps them; `Skip` and Helm test hooks left out), each phase in
sync-wave order, server-side, with every wave healthy before the next (hook Jobs complete,
Deployments available). Argo CD itself does not run here; its ordering rules do.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import yaml
from harness.control_plane import ControlPlane

from .helpers import GLM_TTS, Helm, wait_for

# Argo CD's kind order inside one wave (gitops-engine's sync task ordering), for the kinds we render.
KIND_ORDER = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "ServiceAccount",
    "Secret", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
    "DaemonSet", "Pod", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService",
]  # fmt: skip
HELM_TO_ARGO = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
}
PHASES = ("PreSync", "Sync", "PostSync")


def phase_of(obj: dict[str, Any]) -> str | None:
    """The sync phase Argo CD runs the object in, or None when Argo CD skips it."""
    annotations = obj["metadata"].get("annotations") or {}
    argo = annotations.get("argocd.argoproj.io/hook")
    if argo:
        phases = [p.strip() for p in argo.split(",")]
        return None if "Skip" in phases else phases[0]
    helm = annotations.get("helm.sh/hook")
    if helm:
        mapped = [HELM_TO_ARGO.get(h.strip()) for h in helm.split(",")]
        return next((m for m in mapped if m), None)  # test, pre-delete, ... : not synced
    return "Sync"


def sync_plan(docs: list[dict[str, Any]]) -> list[tuple[str, int, list[dict[str, Any]]]]:
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        phase = phase_of(doc)
        if phase is None:
            continue
        annotations = doc["metadata"].get("annotations") or {}
        wave = int(annotations.get("argocd.argoproj.io/sync-wave", "0"))
        groups[(PHASES.index(phase), wave)].append(doc)

    def kind_rank(obj: dict[str, Any]) -> tuple[int, str, str]:
        kind = obj["kind"]
        rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
        return rank, kind, obj["metadata"]["name"]

    return [(PHASES[p], wave, sorted(objs, key=kind_rank)) for (p, wave), objs in sorted(groups.items())]


def wait_healthy(plane: ControlPlane, namespace: str, objs: list[dict[str, Any]]) -> None:
    for obj in objs:
        name = obj["metadata"]["name"]
        if obj["kind"] == "Job":

            def complete(name: str = name) -> bool:
                status = plane.get("job", name, "-n", namespace).get("status", {})
                return any(
                    c["type"] == "Complete" and c["status"] == "True" for c in status.get("conditions", [])
                )

            wait_for(complete, f"hook Job {name} to complete", timeout=120)
        elif obj["kind"] == "Deployment":
            plane.kubectl(
                "rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=180s", timeout=200
            )


def test_an_argocd_sync_applies_in_wave_order(
    control_plane: ControlPlane, helm4: Helm, namespace: str
) -> None:
    control_plane.require_crds()
    # Argo CD renders with `helm template`, the Application's values and the cluster's API versions
    values = GLM_TTS / "ci" / "gpu-values.yaml"
    out = helm4(
        "template", "glm-tts", str(GLM_TTS), "-n", namespace, "-f", str(values),
        "--kube-version", control_plane.version["gitVersion"],
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
        "--api-versions", "monitoring.coreos.com/v1",
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(out) if d]
    plan = sync_plan(docs)
    phases = [phase for phase, _, _ in plan]
    assert phases == sorted(phases, key=PHASES.index), "phases out of order"
    assert "Sync" in phases
    applied: list[str] = []
    for phase, wave, objs in plan:
        result = control_plane.kubectl(
            "apply", "--server-side", "--field-manager=argocd-controller", "--validate=strict",
            "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objs), check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{phase} wave {wave} refused:\n{result.stderr}"
        wait_healthy(control_plane, namespace, objs)
        applied += [f"{phase}/{wave}/{o['kind']}/{o['metadata']['name']}" for o in objs]
    kinds = {entry.split("/")[2] for entry in applied}
    assert {"Deployment", "Service"} <= kinds, applied
