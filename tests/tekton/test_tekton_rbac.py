"""Least-privilege RBAC of the catalog, checked against what it must allow.

- No wildcards anywhere; every object valid for the strict Kubernetes schemas.
- The deployer's Role/ClusterRole cover every object the glm-tts chart renders (default values and
  each ci/ profile), and hold every permission the chart's own Roles/ClusterRoles grant (Kubernetes
  refuses to let an account grant what it does not hold).
- The checker holds exactly the reads the preflight contract lists.
"""

from __future__ import annotations

import itertools

import pytest
from harness.helm import render_chart
from harness.kube_schema import validate_all
from harness.paths import CHARTS, TEKTON_CATALOG
from task_steps import documents

RBAC_FILES = [
    *sorted(TEKTON_CATALOG.glob("*/*/*/rbac/*.yaml")),
    TEKTON_CATALOG / "triggers/glm-tts-cicd/rbac.yaml",
]
DEPLOYER = TEKTON_CATALOG / "task/glm-tts-helm-deploy/0.1.0/rbac/glm-tts-deployer.yaml"
CHECKER = TEKTON_CATALOG / "task/glm-tts-gpu-preflight/0.1.0/rbac/glm-tts-checker.yaml"
MANAGE = {"get", "create", "update", "patch", "delete"}

# kind → (API group, resource, namespaced)
KINDS = {
    "Deployment": ("apps", "deployments", True),
    "Service": ("", "services", True),
    "ServiceAccount": ("", "serviceaccounts", True),
    "ConfigMap": ("", "configmaps", True),
    "Secret": ("", "secrets", True),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims", True),
    "Pod": ("", "pods", True),
    "Job": ("batch", "jobs", True),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets", True),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers", True),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies", True),
    "Ingress": ("networking.k8s.io", "ingresses", True),
    "Role": ("rbac.authorization.k8s.io", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings", True),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings", False),
    "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors", True),
    "PodMonitor": ("monitoring.coreos.com", "podmonitors", True),
    "PrometheusRule": ("monitoring.coreos.com", "prometheusrules", True),
    "ScaledObject": ("keda.sh", "scaledobjects", True),
    "Certificate": ("cert-manager.io", "certificates", True),
    "Issuer": ("cert-manager.io", "issuers", True),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes", True),
}


def rules_of(path, kind):
    return [r for d in documents(path) if d["kind"] == kind for r in d["rules"]]


def allows(rules, group, resource, verb, names=()):
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            restricted = rule.get("resourceNames")
            if not restricted or (names and set(names) <= set(restricted)):
                return True
    return False


@pytest.mark.parametrize("path", RBAC_FILES, ids=[str(p.relative_to(TEKTON_CATALOG)) for p in RBAC_FILES])
def test_rbac_is_valid_and_has_no_wildcards(path):
    docs = documents(path)
    validate_all(docs)
    for doc in docs:
        for rule in doc.get("rules", []):
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(key, []), f"{path.name}: wildcard in {key}: {rule}"
            assert "escalate" not in rule["verbs"] and "impersonate" not in rule["verbs"]


def test_checker_grants_the_preflight_contract_and_only_reads():
    cluster = rules_of(CHECKER, "ClusterRole")
    for resource, group in (
        ("nodes", ""),
        ("pods", ""),
        ("runtimeclasses", "node.k8s.io"),
        ("storageclasses", "storage.k8s.io"),
    ):
        for verb in ("get", "list"):
            assert allows(cluster, group, resource, verb), (resource, verb)
    assert allows(cluster, "authorization.k8s.io", "selfsubjectaccessreviews", "create")
    ns = rules_of(CHECKER, "Role")
    for resource in ("persistentvolumeclaims", "resourcequotas"):
        assert allows(ns, "", resource, "list")
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    for rule in cluster + ns:
        if rule["resources"] != ["selfsubjectaccessreviews"]:
            assert not writes & set(rule["verbs"]), f"checker may only read: {rule}"
    for doc in documents(CHECKER):
        if doc["kind"] == "Role":
            assert not any(r["resources"] == ["secrets"] for r in doc["rules"])


def chart_renders():
    chart = CHARTS / "glm-tts"
    if not (chart / "Chart.yaml").is_file():
        pytest.skip("charts/glm-tts is not in this checkout yet")
    profiles = [None, *sorted((chart / "ci").glob("*.yaml"))]
    objects = []
    for profile in profiles:
        objects += render_chart(chart, values_files=[profile] if profile else [], namespace="glm-tts")
    return objects


def uncovered(objects) -> list[str]:
    """Objects the deployer could not manage, as messages (unknown kinds included)."""
    role, cluster = rules_of(DEPLOYER, "Role"), rules_of(DEPLOYER, "ClusterRole")
    problems = []
    for kind in sorted({o["kind"] for o in objects}):
        if kind not in KINDS:
            problems.append(f"the chart renders {kind}: add it to {DEPLOYER.name} and to KINDS here")
            continue
        group, resource, namespaced = KINDS[kind]
        verbs = {"get", "create", "delete"} if kind == "Pod" else MANAGE
        rules = role + cluster if namespaced else cluster
        missing = [v for v in sorted(verbs) if not allows(rules, group, resource, v)]
        if missing:
            problems.append(f"deployer cannot {missing} {resource} ({kind})")
    return problems


def ungrantable(objects) -> list[str]:
    """Permissions the chart's Roles/ClusterRoles grant that the deployer does not hold."""
    role, cluster = rules_of(DEPLOYER, "Role"), rules_of(DEPLOYER, "ClusterRole")
    problems = []
    for obj in objects:
        if obj["kind"] not in ("Role", "ClusterRole"):
            continue
        held = cluster if obj["kind"] == "ClusterRole" else role + cluster
        for rule in obj.get("rules", []):
            for group, resource, verb in itertools.product(
                rule.get("apiGroups", [""]), rule["resources"], rule["verbs"]
            ):
                if not allows(held, group, resource, verb, rule.get("resourceNames", ())):
                    name = f"{obj['kind']}/{obj['metadata']['name']}"
                    problems.append(f"{name} grants {verb} {group}/{resource}")
    return problems


def test_coverage_checks_catch_what_the_deployer_lacks():
    """The two checks below on known objects: what the deployer holds passes, the rest is named."""
    preflight_reader = {
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]}],
    }
    assert ungrantable([preflight_reader]) == []
    greedy = {
        "kind": "ClusterRole",
        "metadata": {"name": "greedy"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
    }
    assert ungrantable([greedy]) == ["ClusterRole/greedy grants list /secrets"]
    assert uncovered([{"kind": "Deployment"}, {"kind": "ClusterRoleBinding"}]) == []
    assert uncovered([{"kind": "StatefulSet"}])[0].startswith("the chart renders StatefulSet")


def test_deployer_covers_every_object_the_chart_renders():
    problems = uncovered(chart_renders())
    assert not problems, "\n".join(problems)


def test_deployer_holds_every_permission_the_chart_grants():
    problems = ungrantable(chart_renders())
    assert not problems, "the deployer could not create these (RBAC escalation prevention):\n" + "\n".join(
        problems
    )


def test_rbac_subjects_point_at_the_service_accounts_they_define():
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for p in RBAC_FILES
        for d in documents(p)
        if d["kind"] == "ServiceAccount"
    }
    for path in RBAC_FILES:
        for doc in documents(path):
            for subject in doc.get("subjects", []):
                assert (subject["namespace"], subject["name"]) in accounts, (path.name, subject)
