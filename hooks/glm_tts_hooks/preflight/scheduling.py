"""The scheduler's view of a node, re-done from API objects: selector, taints, readiness, requests.

Follows kube-scheduler's NodeAffinity (nodeSelector part), TaintToleration, NodeUnschedulable
filters and the pod resource-request rules (requests default to limits for extended resources;
init containers count by their maximum, sidecars add up).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from glm_tts_hooks.kube_client import parse_quantity
from glm_tts_hooks.preflight.options import Toleration

# PreferNoSchedule only steers the scheduler; it never keeps a pod off a node.
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
# Pods in these phases hold no resources (what `kubectl describe node` leaves out too).
TERMINATED_PHASES_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def matches_selector(node: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = labels_of(node)
    return all(labels.get(key) == value for key, value in selector.items())


def tolerates(toleration: Toleration, taint: dict[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.effect and toleration.effect != taint.get("effect"):
        return False
    if toleration.key != taint.get("key") and not (toleration.key == "" and toleration.operator == "Exists"):
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.value == (taint.get("value") or "")


def untolerated_taints(node: dict[str, Any], tolerations: Iterable[Toleration]) -> list[str]:
    tolerations = tuple(tolerations)
    blocking = []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in BLOCKING_EFFECTS:
            continue
        # Cordoning and NotReady have their own verdicts; don't report their taints twice.
        if taint.get("key") in (
            "node.kubernetes.io/unschedulable",
            "node.kubernetes.io/unreachable",
            "node.kubernetes.io/not-ready",
        ):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            value = f"={taint['value']}" if taint.get("value") else ""
            blocking.append(f"{taint.get('key')}{value}:{taint.get('effect')}")
    return blocking


def is_ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_cordoned(node: dict[str, Any]) -> bool:
    return bool((node.get("spec") or {}).get("unschedulable"))


def allocatable(node: dict[str, Any], resource: str) -> int:
    value = ((node.get("status") or {}).get("allocatable") or {}).get(resource)
    return int(parse_quantity(value)) if value is not None else 0


def _container_request(container: dict[str, Any], resource: str) -> Decimal:
    resources = container.get("resources") or {}
    # Extended resources cannot be overcommitted: a limit alone sets the request.
    value = (resources.get("requests") or {}).get(resource, (resources.get("limits") or {}).get(resource))
    return parse_quantity(value) if value is not None else Decimal(0)


def pod_request(pod: dict[str, Any], resource: str) -> int:
    """Effective pod request: max(sum of app containers + sidecars, each init container + sidecars
    started before it), plus the RuntimeClass overhead."""
    spec = pod.get("spec") or {}
    sidecars = Decimal(0)
    init_peak = Decimal(0)
    for init in spec.get("initContainers") or []:
        request = _container_request(init, resource)
        if init.get("restartPolicy") == "Always":
            sidecars += request
            init_peak = max(init_peak, sidecars)
        else:
            init_peak = max(init_peak, sidecars + request)
    app = sum((_container_request(c, resource) for c in spec.get("containers") or []), Decimal(0)) + sidecars
    overhead = (spec.get("overhead") or {}).get(resource)
    return int(max(app, init_peak) + (parse_quantity(overhead) if overhead else 0))
