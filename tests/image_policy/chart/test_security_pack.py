"""The GLM-TTS security policy pack: each rule, rendered as ValidatingAdmissionPolicies and as Kyverno
ClusterPolicies from one set of values, admits the compliant resource and denies each violation.

Both renders are evaluated with the three CEL engines of admission.py (the API server's plumbing
around CEL: resource rules, namespace and object selectors, variables, validations). The Kyverno
policies carry the same CEL as `validate.cel`; Kyverno's `selector` and `namespaceSelector` map to
the binding's objectSelector and namespaceSelector.
"""

from __future__ import annotations

import copy

import pytest
from harness.helm import find

from .admission import ENGINES, PolicyEvaluator
from .renders import render

GLM = {"app.kubernetes.io/name": "glm-tts", "app.kubernetes.io/instance": "glm-tts"}
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def glm_pod(**changes) -> dict:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "glm-tts-0", "namespace": "glm-tts", "labels": dict(GLM)},
        "spec": {
            "securityContext": dict(POD_SECURITY),
            "initContainers": [
                {
                    "name": "download",
                    "image": "r.io/hooks@sha256:" + "1" * 64,
                    "securityContext": dict(RESTRICTED),
                    "volumeMounts": [{"name": "models", "mountPath": "/models"}],  # writes weights
                }
            ],
            "containers": [
                {
                    "name": "server",
                    "image": "r.io/glm-tts@sha256:" + "2" * 64,
                    "securityContext": dict(RESTRICTED),
                    "resources": {"limits": {"nvidia.com/gpu": 1}},
                    "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": "glm-tts-models"}}],
        },
    }
    for change in changes.values():
        change(pod)
    return pod


def service(type_: str, target_port, selector=None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "glm-tts-public", "namespace": "glm-tts"},
        "spec": {
            "type": type_,
            "selector": selector or dict(GLM),
            "ports": [{"name": "web", "port": 80, "targetPort": target_port}],
        },
    }


def ingress(backend: str) -> dict:
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": backend, "port": {"number": 80}}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "tts", "namespace": "glm-tts"},
        "spec": {"rules": [{"host": "tts.example.com", "http": {"paths": [path]}}]},
    }


def http_route(backend: str) -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "tts", "namespace": "glm-tts"},
        "spec": {"rules": [{"backendRefs": [{"name": backend, "port": 80}]}]},
    }


def as_deployment(pod: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "glm-tts", "namespace": pod["metadata"]["namespace"], "labels": dict(GLM)},
        "spec": {
            "selector": {"matchLabels": dict(GLM)},
            "template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]},
        },
    }


def _server(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def in_namespace(namespace):
    def change(pod):
        pod["metadata"]["namespace"] = namespace

    return change


CASES = [
    # (id, object, denied rule or None)
    ("compliant-glm-tts-pod", glm_pod(), None),
    ("compliant-glm-tts-deployment", as_deployment(glm_pod()), None),
    (
        "host-path",
        glm_pod(x=lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
        "no-host-path",
    ),
    (
        "host-path-in-deployment",
        as_deployment(
            glm_pod(x=lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}))
        ),
        "no-host-path",
    ),
    (
        "host-path-other-app-not-judged",
        glm_pod(
            labels=lambda p: p["metadata"].update(labels={"app": "other"}),
            x=lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        ),
        None,
    ),
    (
        "model-volume-writable",
        glm_pod(x=lambda p: _server(p)["volumeMounts"][0].pop("readOnly")),
        "read-only-models",
    ),
    (
        "privilege-escalation",
        glm_pod(x=lambda p: _server(p)["securityContext"].update(allowPrivilegeEscalation=True)),
        "restricted-pod-security",
    ),
    (
        "capabilities-kept",
        glm_pod(x=lambda p: _server(p)["securityContext"].pop("capabilities")),
        "restricted-pod-security",
    ),
    (
        "runs-as-root-allowed",
        glm_pod(x=lambda p: p["spec"]["securityContext"].pop("runAsNonRoot")),
        "restricted-pod-security",
    ),
    (
        "no-seccomp",
        glm_pod(x=lambda p: p["spec"]["securityContext"].pop("seccompProfile")),
        "restricted-pod-security",
    ),
    ("host-network", glm_pod(x=lambda p: p["spec"].update(hostNetwork=True)), "restricted-pod-security"),
    ("gpu-outside-allowed-namespaces", glm_pod(ns=in_namespace("apps")), "gpu-namespaces"),
    (
        "gpu-request-outside-allowed-namespaces-any-app",
        glm_pod(
            ns=in_namespace("apps"),
            labels=lambda p: p["metadata"].update(labels={"app": "other"}),
            x=lambda p: _server(p).update(resources={"requests": {"nvidia.com/mig-1g.10gb": 1}}),
        ),
        "gpu-namespaces",
    ),
    ("cpu-pod-anywhere", glm_pod(ns=in_namespace("apps"), x=lambda p: _server(p).pop("resources")), None),
    ("load-balancer-to-proxy-port", service("LoadBalancer", 4180), None),
    ("cluster-ip-to-app-port", service("ClusterIP", 8080), None),
    ("load-balancer-to-app-port", service("LoadBalancer", 8080), "app-port-behind-proxy"),
    ("node-port-to-named-app-port", service("NodePort", "http"), "app-port-behind-proxy"),
    ("load-balancer-other-app", service("LoadBalancer", 8080, {"app": "other"}), None),
    ("ingress-to-proxy-service", ingress("glm-tts"), None),
    ("ingress-to-internal-service", ingress("glm-tts-internal"), "no-route-to-internal-service"),
    ("httproute-to-proxy-service", http_route("glm-tts"), None),
    ("httproute-to-internal-service", http_route("glm-tts-internal"), "no-route-to-internal-service"),
]

RESOURCES = {
    "Pod": ("", "pods"),
    "Deployment": ("apps", "deployments"),
    "Service": ("", "services"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
}


def request_for(obj: dict) -> dict:
    group, resource = RESOURCES[obj["kind"]]
    return {
        "uid": "u",
        "kind": {"group": group, "version": "v1", "kind": obj["kind"]},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "namespace": obj["metadata"]["namespace"],
        "operation": "CREATE",
        "object": copy.deepcopy(obj),
        "oldObject": None,
    }


def vap_evaluators(engine: str, mode: str = "enforce") -> list[PolicyEvaluator]:
    objects = render({"securityPack": {"enabled": True, "mode": mode}})
    bindings = {b["spec"]["policyName"]: b for b in find(objects, "ValidatingAdmissionPolicyBinding")}
    policies = find(objects, "ValidatingAdmissionPolicy")
    assert len(policies) == 6 and set(bindings) == {p["metadata"]["name"] for p in policies}
    return [PolicyEvaluator(p, bindings[p["metadata"]["name"]], engine) for p in policies]


KYVERNO_KINDS = {
    "Pod": ("", "pods"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Service": ("", "services"),
    "networking.k8s.io/v1/Ingress": ("networking.k8s.io", "ingresses"),
    "gateway.networking.k8s.io/v1/HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
}


def kyverno_evaluators(engine: str) -> list[PolicyEvaluator]:
    """Each ClusterPolicy in the shape PolicyEvaluator reads (Kyverno binds the same CEL names)."""
    evaluators = []
    for policy in find(
        render({"securityPack": {"enabled": True, "engine": "kyverno", "mode": "enforce"}}), "ClusterPolicy"
    ):
        (rule,) = policy["spec"]["rules"]
        (match,) = rule["match"]["any"]
        resources = match["resources"]
        name = policy["metadata"]["name"]
        vap = {
            "metadata": {"name": name},
            "spec": {
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [KYVERNO_KINDS[kind][0]],
                            "apiVersions": ["v1"],
                            "resources": [KYVERNO_KINDS[kind][1]],
                            "operations": resources["operations"],
                        }
                        for kind in resources["kinds"]
                    ]
                },
                "variables": rule["validate"]["cel"].get("variables", []),
                "validations": rule["validate"]["cel"]["expressions"],
            },
        }
        action = "Deny" if policy["spec"]["validationFailureAction"] == "Enforce" else "Audit"
        match_resources = {"namespaceSelector": resources["namespaceSelector"]}
        if "selector" in resources:
            match_resources["objectSelector"] = resources["selector"]
        binding = {
            "spec": {"policyName": name, "validationActions": [action], "matchResources": match_resources}
        }
        evaluators.append(PolicyEvaluator(vap, binding, engine))
    return evaluators


def denied_rules(evaluators: list[PolicyEvaluator], obj: dict) -> set[str]:
    labels = {"kubernetes.io/metadata.name": obj["metadata"]["namespace"]}
    verdicts = [e.review(request_for(obj), labels) for e in evaluators]
    return {v.rule for v in verdicts if not v.allowed}


@pytest.fixture(
    scope="module",
    params=[(kind, engine) for kind in ("vap", "kyverno") for engine in ENGINES],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def evaluators(request):
    kind, engine = request.param
    return vap_evaluators(engine) if kind == "vap" else kyverno_evaluators(engine)


@pytest.mark.parametrize(("obj", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_admits_the_compliant_and_denies_the_violation(evaluators, obj, rule):
    assert denied_rules(evaluators, obj) == ({rule} if rule else set())


def test_audit_mode_warns_instead_of_denying():
    evaluators = vap_evaluators("cel-cpp", mode="audit")
    obj = glm_pod(x=lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}))
    verdicts = [e.review(request_for(obj), {"kubernetes.io/metadata.name": "glm-tts"}) for e in evaluators]
    assert all(v.allowed for v in verdicts) and {v.rule for v in verdicts} >= {"no-host-path"}
    objects = render({"securityPack": {"enabled": True, "mode": "audit"}})
    assert {
        tuple(b["spec"]["validationActions"]) for b in find(objects, "ValidatingAdmissionPolicyBinding")
    } == {("Warn", "Audit")}
    kyverno = render({"securityPack": {"enabled": True, "engine": "kyverno", "mode": "audit"}})
    assert {p["spec"]["validationFailureAction"] for p in find(kyverno, "ClusterPolicy")} == {"Audit"}


def test_both_engines_carry_the_same_cel_per_rule():
    vaps = {
        p["metadata"]["labels"]["glm-tts.io/security-rule"]: [
            v["expression"] for v in p["spec"]["validations"]
        ]
        for p in find(render({"securityPack": {"enabled": True}}), "ValidatingAdmissionPolicy")
    }
    kyverno = {
        p["metadata"]["labels"]["glm-tts.io/security-rule"]: [
            e["expression"] for e in p["spec"]["rules"][0]["validate"]["cel"]["expressions"]
        ]
        for p in find(render({"securityPack": {"enabled": True, "engine": "kyverno"}}), "ClusterPolicy")
    }
    assert vaps == kyverno and len(vaps) == 6


def test_each_rule_can_be_turned_off_and_the_pack_is_off_by_default():
    assert not find(render(), "ValidatingAdmissionPolicy")
    objects = render({"securityPack": {"enabled": True, "rules": {"noHostPath": False}}})
    rules = {
        p["metadata"]["labels"]["glm-tts.io/security-rule"]
        for p in find(objects, "ValidatingAdmissionPolicy")
    }
    assert "no-host-path" not in rules and len(rules) == 5
