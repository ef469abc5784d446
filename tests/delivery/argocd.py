"""Argo CD objects under deploy/argocd/ and the way Argo CD renders a Helm source.

Argo CD (v3, Helm 3 inside) renders a chart with
`helm template <chart> --name-template <releaseName> --namespace <destination> --kube-version <cluster>
--api-versions <every group/version the cluster serves> --include-crds` plus the Application's values;
`render_as_argocd` does the same with the real helm 3 binary.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from harness.helm import run_helm
from harness.paths import CHARTS, REPO, shared_path

ARGOCD_DIR = REPO / "deploy" / "argocd"
ARGOCD_CRDS = ("argo-cd-v3.5.1",)
# What a cluster with cert-manager, the Prometheus operator, Gateway API and KEDA serves.
CLUSTER_KUBE_VERSION = "1.33.0"
CLUSTER_API_VERSIONS = (
    "v1",
    "apps/v1",
    "batch/v1",
    "policy/v1",
    "autoscaling/v2",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "admissionregistration.k8s.io/v1",
    "node.k8s.io/v1",
    "cert-manager.io/v1",
    "monitoring.coreos.com/v1",
    "gateway.networking.k8s.io/v1",
    "keda.sh/v1alpha1",
)


def load_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(ARGOCD_DIR.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def by_kind_and_name(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in load_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name} under deploy/argocd"
    return matches[0]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """CRD structural schema → JSON Schema that rejects unknown fields (the apiserver would prune them
    silently, which hides typos) and accepts int-or-string where the CRD says so."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.pop("x-kubernetes-int-or-string", False):
                node.pop("type", None)
                node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    for folder in ARGOCD_CRDS:
        for path in shared_path("crds", folder).glob("*.yaml"):
            crd = yaml.safe_load(path.read_text())
            if crd["spec"]["names"]["kind"] == kind:
                version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
                schema = _strict(version["schema"]["openAPIV3Schema"])
                # metadata is checked by the apiserver itself, not by the CRD schema
                schema["properties"]["metadata"] = {"type": "object"}
                return schema
    raise LookupError(f"no Argo CD CRD for {kind}")


def render_as_argocd(
    source: dict[str, Any], namespace: str, workdir: Path, value_files: list[str] | None = None
) -> str:
    """`helm template` of the Application's Helm source (chart folder = the packaged chart's content,
    which test_chart_release proves equal to the OCI artefact)."""
    helm = source.get("helm", {})
    chart = CHARTS / source["chart"]
    args = [
        "template",
        str(chart),
        "--name-template",
        helm.get("releaseName", source["chart"]),
        "--namespace",
        namespace,
        "--kube-version",
        CLUSTER_KUBE_VERSION,
        "--include-crds",
    ]
    for api in CLUSTER_API_VERSIONS:
        args += ["--api-versions", api]
    for name in value_files if value_files is not None else helm.get("valueFiles", []):
        args += ["--values", str(chart / name)]
    if "valuesObject" in helm:
        values = workdir / "argocd-values.yaml"
        values.write_text(yaml.safe_dump(helm["valuesObject"]))
        args += ["--values", str(values)]
    return run_helm(3, args)
