"""Wait for a Deployment rollout to finish, judged the way `kubectl rollout status` judges it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from glm_tts_hooks.kube import Kube, path


@dataclass(frozen=True)
class RolloutState:
    done: bool
    detail: str
    stuck: bool = False  # the controller gave up (ProgressDeadlineExceeded): waiting is pointless


def rollout_state(deployment: dict[str, Any]) -> RolloutState:
    meta, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(
                False, f"rollout exceeded its progress deadline: {condition.get('message', '')}", stuck=True
            )
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutState(False, "the controller has not observed the latest spec yet")
    if updated < replicas:
        return RolloutState(False, f"{updated} of {replicas} replicas updated")
    if total > updated:
        return RolloutState(False, f"{total - updated} old replicas are pending termination")
    if available < updated:
        return RolloutState(False, f"{available} of {updated} updated replicas available")
    return RolloutState(
        True,
        f"{available}/{replicas} replicas updated and available (generation {meta.get('generation', '?')})",
    )


def wait_for_rollout(
    kube: Kube, namespace: str, name: str, deadline: float, poll: float
) -> RolloutState | None:
    """Poll until done, stuck or the deadline; None when the Deployment does not exist."""
    while True:
        deployment = kube.get(
            f"get deployment {name} in {namespace}",
            path("/apis/apps/v1/namespaces/{}/deployments/{}", namespace, name),
        )
        if deployment is None:
            return None
        state = rollout_state(deployment)
        if state.done or state.stuck or time.monotonic() + poll > deadline:
            return state
        time.sleep(poll)
