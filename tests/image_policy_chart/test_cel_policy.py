"""The rendered ValidatingAdmissionPolicy, evaluated with real CEL libraries, agrees with the webhook.

For every case of the shared table (tests/webhook/cases.py) that needs no registry: render the chart
with that case's policy as values, evaluate the policy's CEL as the API server would, and compare the
verdict (allowed, first rule) with the webhook's own decision function on the same images.
"""

from __future__ import annotations

import pytest
from glm_tts_hooks.webhook.policy import RULES, evaluate_images, parse_policy
from harness.helm import find

from webhook.cases import CASES, CONTAINER_KINDS, POLICIES, admission_review

from .admission import ENGINES, PolicyEvaluator, Verdict
from .renders import render

CEL_CASES = [
    c for c in CASES if c["api"] == "AdmissionReview" and not c["needs_signatures"] and not c.get("body")
]


def policy_values(name: str) -> dict:
    # The table's policies are the contract format, which is the chart's `policy` values format.
    return {"engine": "validatingAdmissionPolicy", "policy": POLICIES[name]}


@pytest.fixture(scope="module")
def evaluators():
    built = {}
    for name in POLICIES:
        objects = render(policy_values(name))
        (vap,) = find(objects, "ValidatingAdmissionPolicy")
        (binding,) = find(objects, "ValidatingAdmissionPolicyBinding")
        for engine in ENGINES:
            built[name, engine] = PolicyEvaluator(vap, binding, engine)
    return built


def webhook_verdict(case: dict) -> Verdict:
    """The webhook's decision on the same images (pre-signature), from its own evaluate_images."""
    policy = parse_policy(POLICIES[case["policy"]])
    images = [image or "" for kind in CONTAINER_KINDS for image in case["images"].get(kind, [])]
    rules = sorted(
        (v.rule for vs in evaluate_images(case["namespace"], images, policy).values() for v in vs),
        key=RULES.index,
    )
    return Verdict(allowed=not rules or policy.audit, rule=rules[0] if rules else None)


def namespace_labels(namespace: str) -> dict[str, str]:
    # The API server sets this label on every namespace; the binding's selector keys on it.
    return {"kubernetes.io/metadata.name": namespace}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CEL_CASES, ids=[c["id"] for c in CEL_CASES])
def test_cel_verdict_matches_webhook(case, engine, evaluators):
    request = admission_review(case)["request"]
    got = evaluators[case["policy"], engine].review(request, namespace_labels(case["namespace"]))
    expected = webhook_verdict(case)
    assert (got.allowed, got.rule) == (expected.allowed, expected.rule), got.message
    # The table states the same verdict; a drift between table and webhook would hide here otherwise.
    assert (expected.allowed, expected.rule) == (case["allowed"], case["rule"])


def test_cel_cases_cover_both_verdicts_every_container_and_workload_kind():
    assert {c["allowed"] for c in CEL_CASES} == {True, False}
    assert {k for c in CEL_CASES for k in c["images"]} == set(CONTAINER_KINDS)
    assert {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
            "CronJob"} <= {c["kind"] for c in CEL_CASES}
    assert set(RULES) - {"signature"} <= {c["rule"] for c in CEL_CASES}
