"""Every custom resource either chart renders is valid for the official CRD that serves its kind.

Both charts are rendered with their defaults, every ci/ profile and environments/ file, plus values
that switch on each optional custom resource; every object outside the built-in API groups must be
served by a CRD in ../shared/crds and match its openAPIV3Schema (unknown fields rejected where the
CRD does). Skips, with the reason, when ../shared is not beside this clone.
"""

from __future__ import annotations

import functools

import pytest
from harness.crd_schema import CrdCatalog
from harness.helm import render_chart
from harness.paths import CHARTS, shared_path

BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io",
    "storage.k8s.io",
    "node.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "certificates.k8s.io",
    "apiextensions.k8s.io",
}
# Values that switch on the custom resources the profiles leave off.
EXTRA_RENDERS = {
    "glm-tts": [
        {
            "autoscaling": {"mode": "keda", "minReplicas": 1},
            "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
            "auth": {"existingSecret": "api"},
            "httpRoute": {
                "enabled": True,
                "parentRefs": [{"name": "gw", "namespace": "gateways"}],
                "hostnames": ["tts.example.com"],
                "canary": {"serviceName": "glm-tts-canary", "weight": 5},
            },
        },
    ],
    "glm-tts-image-policy": [
        {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}},
    ],
}
RELEASES = {"glm-tts": ("glm-tts", "glm-tts"), "glm-tts-image-policy": ("image-policy", "glm-tts-system")}


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


@functools.cache
def catalog() -> CrdCatalog:
    return CrdCatalog(shared_path("crds"))


def renders(chart_name: str):
    chart = CHARTS / chart_name
    release, namespace = RELEASES[chart_name]
    inputs = [("defaults", [], None)]
    inputs += [(f.name, [f], None) for f in sorted((chart / "ci").glob("*-values.yaml"))]
    inputs += [(f.name, [f], None) for f in sorted((chart / "environments").glob("values-*.yaml"))]
    inputs += [(f"extra-{i}", [], v) for i, v in enumerate(EXTRA_RENDERS[chart_name])]
    for label, files, values in inputs:
        yield label, render_chart(chart, values, values_files=files, release=release, namespace=namespace)


@pytest.fixture(scope="module", params=sorted(RELEASES))
def custom_resources(request):
    found = []
    for label, objects in renders(request.param):
        found += [(label, o) for o in objects if group_of(o["apiVersion"]) not in BUILTIN_GROUPS]
    return request.param, found


def test_every_rendered_custom_resource_matches_its_crd(custom_resources):
    chart, found = custom_resources
    crds = catalog()
    problems = []
    for label, obj in found:
        try:
            crds.validate(obj)
        except AssertionError as exc:
            problems.append(f"{chart} {label}: {exc}")
    assert not problems, "\n".join(problems)


def test_the_renders_cover_every_custom_kind_the_templates_declare(custom_resources):
    chart, found = custom_resources
    rendered = {o["kind"] for _label, o in found}
    expected = {
        "glm-tts": {"ServiceMonitor", "PrometheusRule", "ScaledObject", "HTTPRoute"},
        "glm-tts-image-policy": {"ServiceMonitor", "Certificate", "Issuer", "ClusterPolicy"},
    }[chart]
    assert expected <= rendered, f"{chart}: no render produced {sorted(expected - rendered)}"
