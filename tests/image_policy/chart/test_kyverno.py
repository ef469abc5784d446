"""The Kyverno engine: the same keys, kinds, namespaces and allow-list as the other two engines.

No Kyverno runs here. Its `validate.cel` rule carries exactly the CEL of the ValidatingAdmissionPolicy
(whose verdicts test_cel_policy.py checks against the webhook), so it is evaluated with the same
evaluator as a Kyverno CEL rule is (object, variables, expressions in order).
"""

from __future__ import annotations

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from harness.helm import find

from image_policy.cases import CASES, OPT_IN_LABEL, POLICIES, admission_review

from .admission import ENGINES, PolicyEvaluator
from .renders import CI_DIR, render

KIND_OF_RESOURCE = {
    "pods": "Pod",
    "pods/ephemeralcontainers": "Pod/ephemeralcontainers",
    "replicationcontrollers": "ReplicationController",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "replicasets": "ReplicaSet",
    "jobs": "Job",
    "cronjobs": "CronJob",
}


@pytest.fixture(scope="module")
def profile_values():
    return yaml.safe_load((CI_DIR / "kyverno-values.yaml").read_text())


@pytest.fixture(scope="module")
def cluster_policy():
    (policy,) = find(render(profile="kyverno"), "ClusterPolicy")
    return policy


@pytest.fixture(scope="module")
def vap_objects(profile_values):
    return render({**profile_values, "engine": "validatingAdmissionPolicy"})


def rules_by_name(policy):
    return {rule["name"]: rule for rule in policy["spec"]["rules"]}


def test_policy_settings_follow_values(cluster_policy):
    spec = cluster_policy["spec"]
    assert cluster_policy["apiVersion"] == "kyverno.io/v1"
    assert spec["validationFailureAction"] == "Enforce"
    assert spec["failurePolicy"] == "Fail"
    assert spec["background"] is False
    assert cluster_policy["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"] == "none"
    audit = find(render({"engine": "kyverno", "policy": {"mode": "audit"}}), "ClusterPolicy")[0]
    assert audit["spec"]["validationFailureAction"] == "Audit"


def test_verify_images_uses_exactly_the_values_keys(cluster_policy, profile_values):
    (verify,) = rules_by_name(cluster_policy)["signed-images"]["verifyImages"]
    assert verify["imageReferences"] == ["*"]
    assert (verify["mutateDigest"], verify["verifyDigest"], verify["required"]) == (
        False,
        True,
        True,
    )
    (attestor,) = verify["attestors"]
    assert attestor["count"] == 1  # any one of the keys, as the webhook accepts
    pems = [entry["keys"]["publicKeys"] for entry in attestor["entries"]]
    assert pems == [key["pem"] for key in profile_values["policy"]["signatures"]["publicKeys"]]
    for pem in pems:
        key = load_pem_public_key(pem.encode())
        assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)


def test_no_signature_rule_when_signatures_are_off():
    (policy,) = find(render({"engine": "kyverno"}), "ClusterPolicy")
    assert set(rules_by_name(policy)) == {"allowed-images"}


def test_rules_cover_the_same_kinds_and_namespaces_as_the_webhook(cluster_policy, profile_values):
    (vwc,) = find(render({**profile_values, "engine": "webhook"}), "ValidatingWebhookConfiguration")
    (hook,) = vwc["webhooks"]
    webhook_kinds = {KIND_OF_RESOURCE[r] for rule in hook["rules"] for r in rule["resources"]}
    for rule in cluster_policy["spec"]["rules"]:
        (match,) = rule["match"]["any"]
        resources = match["resources"]
        assert set(resources["kinds"]) == webhook_kinds, rule["name"]
        assert resources["operations"] == ["CREATE", "UPDATE"]
        selector = resources["namespaceSelector"]["matchExpressions"]
        webhook_selector = hook["namespaceSelector"]["matchExpressions"]
        # The webhook also skips its own namespace; otherwise the same exemptions and opt-out label.
        assert selector[1] == webhook_selector[1]
        chart_default = yaml.safe_load((CI_DIR.parent / "values.yaml").read_text())["policy"]
        assert set(selector[0]["values"]) == set(
            profile_values["policy"].get("exemptNamespaces", chart_default["exemptNamespaces"])
        )


def test_cel_rule_is_the_validating_admission_policy(cluster_policy, vap_objects):
    (vap,) = find(vap_objects, "ValidatingAdmissionPolicy")
    cel = rules_by_name(cluster_policy)["allowed-images"]["validate"]["cel"]
    assert cel["variables"] == vap["spec"]["variables"]
    fields = ("expression", "messageExpression", "message")
    assert [tuple(e[f] for f in fields) for e in cel["expressions"]] == [
        tuple(v[f] for f in fields) for v in vap["spec"]["validations"]
    ]


def as_vap(cluster_policy):
    """The Kyverno CEL rule in the shape PolicyEvaluator reads (Kyverno binds the same variables)."""
    rule = rules_by_name(cluster_policy)["allowed-images"]
    (match,) = rule["match"]["any"]
    reverse = {v: k for k, v in KIND_OF_RESOURCE.items()}
    groups = {"Pod": "", "ReplicationController": "", "Job": "batch", "CronJob": "batch"}
    policy = {
        "metadata": {"name": "kyverno"},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [groups.get(kind.split("/")[0], "apps")],
                        "apiVersions": ["v1"],
                        "resources": [reverse[kind]],
                        "operations": match["resources"]["operations"],
                    }
                    for kind in match["resources"]["kinds"]
                ]
            },
            # Kyverno evaluates celPreconditions as the API server evaluates matchConditions.
            "matchConditions": rule.get("celPreconditions", []),
            "variables": rule["validate"]["cel"]["variables"],
            "validations": rule["validate"]["cel"]["expressions"],
        },
    }
    action = "Deny" if cluster_policy["spec"]["validationFailureAction"] == "Enforce" else "Audit"
    binding = {
        "spec": {
            "policyName": "kyverno",
            "validationActions": [action],
            "matchResources": {"namespaceSelector": match["resources"]["namespaceSelector"]},
        }
    }
    return policy, binding


KYVERNO_CASES = [
    c
    for c in CASES
    if c["api"] == "AdmissionReview"
    and not c["needs_signatures"]
    and not c.get("body")
    and c["policy"] == "enforce"
]


@pytest.mark.parametrize("case", KYVERNO_CASES, ids=[c["id"] for c in KYVERNO_CASES])
def test_kyverno_cel_rule_gives_the_table_verdict(case):
    (policy,) = find(render({"engine": "kyverno", "policy": POLICIES["enforce"]}), "ClusterPolicy")
    evaluator = PolicyEvaluator(*as_vap(policy), ENGINES[1])
    got = evaluator.review(
        admission_review(case)["request"],
        {"kubernetes.io/metadata.name": case["namespace"], OPT_IN_LABEL: "enforce"},
    )
    assert (got.allowed, got.rule) == (case["allowed"], case["rule"]), got.message
