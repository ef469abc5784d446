"""Validate Kubernetes objects against the strict JSON schemas shipped by kubernetes-validate.

Strict schemas reject unknown fields, which is what catches a misspelt key in a template.
We validate against the oldest and the newest Kubernetes minor the charts support.
Custom resources have no schema here: Tekton kinds are checked by `tekton_schema`; the few
third-party CRDs the charts can render (Prometheus Operator, KEDA, cert-manager, Gateway API,
Kyverno) get a structural check only, listed explicitly so an unknown kind still fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kubernetes_validate

KUBE_VERSIONS = ("1.30.0", "1.37.0")

# apiVersion/kind of CRDs we render but hold no schema for (see the module docstring).
CRD_KINDS_WITHOUT_SCHEMA = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("cert-manager.io/v1", "Certificate"),
    ("cert-manager.io/v1", "Issuer"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("kyverno.io/v1", "ClusterPolicy"),
}


class KubeSchemaError(AssertionError):
    """An object does not match its Kubernetes schema."""


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


def _check_crd_structure(obj: dict[str, Any]) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise KubeSchemaError(f"{_describe(obj)}: metadata.name is required")
    if "spec" not in obj:
        raise KubeSchemaError(f"{_describe(obj)}: spec is required")


def validate_object(obj: dict[str, Any], kube_version: str) -> None:
    """Raise KubeSchemaError naming the object and the failing path when it is invalid."""
    for field in ("apiVersion", "kind"):
        if not obj.get(field):
            raise KubeSchemaError(f"object without {field}: {str(obj)[:200]}")
    if (obj["apiVersion"], obj["kind"]) in CRD_KINDS_WITHOUT_SCHEMA:
        _check_crd_structure(obj)
        return
    try:
        kubernetes_validate.validate(obj, kube_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        raise KubeSchemaError(
            f"{_describe(obj)} invalid for Kubernetes {kube_version} at {path}: {exc.message}"
        ) from None
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise KubeSchemaError(f"{_describe(obj)}: {exc.message}") from None


def validate_all(objects: Iterable[dict[str, Any]], kube_versions: Iterable[str] = KUBE_VERSIONS) -> int:
    """Validate every object for every version; return how many objects were checked."""
    objects = list(objects)
    for version in kube_versions:
        for obj in objects:
            validate_object(obj, version)
    return len(objects)
