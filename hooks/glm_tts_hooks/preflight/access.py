"""Which API permissions preflight needs, asked of the API server with SelfSubjectAccessReview."""

from __future__ import annotations

from dataclasses import dataclass

from glm_tts_hooks.kube import Forbidden, Kube
from glm_tts_hooks.preflight.options import Options


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None  # None: cluster scope (all namespaces for namespaced kinds)

    def __str__(self) -> str:
        scope = f'in namespace "{self.namespace}"' if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource} {scope}"

    def rule(self) -> str:
        holder = f"Role in {self.namespace}" if self.namespace else "ClusterRole"
        return (
            f'{holder} rule {{apiGroups: ["{self.group}"], resources: ["{self.resource}"], '
            'verbs: ["get", "list"]}'
        )


def required_permissions(options: Options) -> list[Permission]:
    needed = [Permission("list", "nodes")]
    if options.gpu_count > 0:
        needed.append(Permission("list", "pods"))  # GPUs already requested on each node
        needed.append(Permission("list", "resourcequotas", namespace=options.namespace))
    if options.runtime_class:
        needed.append(Permission("get", "runtimeclasses", group="node.k8s.io"))
    if options.pvc:
        needed.append(Permission("get", "persistentvolumeclaims", namespace=options.namespace))
    elif options.storage_class is not None:
        needed.append(
            Permission("get" if options.storage_class else "list", "storageclasses", group="storage.k8s.io")
        )
    return needed


def denied_permissions(kube: Kube, permissions: list[Permission]) -> list[Permission]:
    """Ask the API server about each permission. A review the server refuses to answer is not a
    denial: the request itself will tell."""
    denied = []
    for permission in permissions:
        attributes = {"verb": permission.verb, "resource": permission.resource, "group": permission.group}
        if permission.namespace:
            attributes["namespace"] = permission.namespace
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        try:
            review = kube.create(
                f"review access to {permission}",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body,
            )
        except Forbidden:
            continue
        if not (review.get("status") or {}).get("allowed", False):
            denied.append(permission)
    return denied
