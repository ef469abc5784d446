"""The real Kyverno CLI (`kyverno test`, offline) on the chart's rendered Kyverno policies.

Three suites, one `kyverno test` run each (module fixtures), generated per run into a tmp dir:

* image policy: the shared admission case table (tests/image_policy/cases.py) against the
  ClusterPolicy rendered for each of the table's policies; Kyverno's verdict per case must equal the
  webhook's decision function and the ValidatingAdmissionPolicy's CEL (cel-cpp, RE2 regexes).
* signatures: the table's signature cases against the kyverno profile's policy (CEL rule plus
  `verifyImages` with the test key); the CLI pulls the cosign signatures from the local
  docker-registry on 127.0.0.1 (plain HTTP, which go-containerregistry uses for loopback hosts), and
  its verdict must equal a running webhook's on the same images.
* security pack: every resource of test_security_pack.py against the six pack ClusterPolicies,
  rendered in enforce and in audit mode; Kyverno's failing rules must equal the CEL evaluators'.

Kyverno's verdict is read from each result's message, not from the test's pass/fail summary: the CLI
reports an "Excluded" resource, or a policy it could not load, as passing an expected `pass`.

Not evaluated, and why: the UPDATE cases whose old object differs. `kyverno test` sends an UPDATE
with oldObject equal to the object (cmd/cli/kubectl-kyverno/processor/operation.go in Kyverno
1.19), so only the table's UPDATE case with unchanged images is the request it stands for.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess

import pytest
import yaml
from harness.helm import find
from harness.tools import require_tool

from image_policy.cases import (
    CASES,
    OPT_IN_LABEL,
    POLICIES,
    admission_review,
    fill,
    judged_images,
    request_body,
    workload_object,
)
from image_policy.registry_fixture import LocalRegistry, oci_registry_binary
from image_policy.test_signatures import SignedImages, signature_policy

from . import test_security_pack as pack
from .admission import PolicyEvaluator, Verdict
from .renders import render
from .test_cel_policy import webhook_verdict

TEST_API = {"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Test"}
IMAGE_RULE = "allowed-images"


def _evaluable(case: dict) -> bool:
    if case["api"] != "AdmissionReview" or case["needs_signatures"] or case.get("body"):
        return False
    # The CLI's UPDATE has oldObject == object: only an unchanged-images UPDATE is that request.
    return case.get("operation", "CREATE") == "CREATE" or case.get("old_images") == case["images"]


KYVERNO_CASES = [c for c in CASES if _evaluable(c)]


SKIPPED = ("Excluded", "cel preconditions not met")
# verifyImages reports each image ("verified image signatures for <image>") and the rule ("image verified").
SIGNATURE_PASSES = ("image verified",)
SIGNATURE_FAILURES = ("failed to verify image ", "unverified image ")


def _judgement(message: str) -> str | None:
    """One result row: the rule it failed, "" when judged and passed, None when not judged (excluded
    by the match, e.g. the Pod/ephemeralcontainers kind on a Pod, or no new images on UPDATE)."""
    if message in SKIPPED:
        return None
    if re.fullmatch(r"Validation rule '[\w-]+' passed\.", message) or message in SIGNATURE_PASSES:
        return ""
    if message.startswith("verified image signatures for "):
        return ""
    if message.startswith(SIGNATURE_FAILURES):
        return "signature"
    found = re.search(r"\[rule ([\w-]+)\]$", message)
    if found is None:
        raise AssertionError(f"kyverno result is neither a pass, a skip nor a rule violation: {message!r}")
    return found.group(1)


def verdict_of(messages: list[str]) -> str | None:
    """All rows of one policy and resource: the first failed rule (the CEL rule's rows come before
    verifyImages', the webhook's order), "" when judged and passed, None when never judged."""
    judged = [j for j in map(_judgement, messages) if j is not None]
    failed = [j for j in judged if j]
    return failed[0] if failed else ("" if judged else None)


def run_kyverno_test(
    directory, policies, resources, results, namespaces, *, summary_must_pass: bool = True
) -> dict[tuple[str, str], list[str]]:
    """Write the suite, run `kyverno test` once, return {(policy, resource name): [result messages]}.

    summary_must_pass: the generated expectations hold by the CLI's own count too, so the suite left
    in the tmp dir is a `kyverno test` regression suite on its own. (Not for verifyImages: the CLI
    compares each image's row with the rule's one expected result.)"""
    (directory / "policies.yaml").write_text(yaml.safe_dump_all(policies))
    (directory / "resources.yaml").write_text(yaml.safe_dump_all(resources))
    test = {
        **TEST_API,
        "metadata": {"name": directory.name},
        "policies": ["policies.yaml"],
        "resources": ["resources.yaml"],
        "results": results,
        "values": {"namespaceSelector": [{"name": n, "labels": labels} for n, labels in namespaces.items()]},
    }
    (directory / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [str(require_tool("kyverno")), "test", str(directory), "--detailed-results", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    start = done.stdout.find("\n[")
    assert start >= 0, (
        f"kyverno test printed no results (rc {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    rows, _ = json.JSONDecoder().raw_decode(done.stdout[start + 1 :])
    if summary_must_pass:
        assert done.returncode == 0, f"kyverno test failed its generated expectations:\n{done.stdout[-4000:]}"
    messages: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        resource_name = row["RESOURCE"].rsplit("/", 1)[1]
        messages.setdefault((row["POLICY"], resource_name), []).append(row["Message"])
    return messages


# --- the image policy on the shared case table ---------------------------------------------------


def _image_policies() -> dict[str, dict]:
    """One rendered ClusterPolicy per table policy, named after it (the chart names it by release)."""
    rendered = {}
    for key, policy_values in POLICIES.items():
        (policy,) = find(render({"engine": "kyverno", "policy": policy_values}), "ClusterPolicy")
        policy = copy.deepcopy(policy)
        policy["metadata"]["name"] = f"image-policy-{key}"
        rendered[key] = policy
    return rendered


@pytest.fixture(scope="module")
def image_policies():
    return _image_policies()


def _expected_result(case: dict) -> str:
    """The table's verdict in `kyverno test` terms: skip when the rule does not judge the request."""
    exempt = case["namespace"] in POLICIES[case["policy"]]["exemptNamespaces"]
    if exempt or not judged_images(case):
        return "skip"
    return "fail" if case["rule"] else "pass"


@pytest.fixture(scope="module")
def image_messages(tmp_path_factory, image_policies):
    results = []
    for case in KYVERNO_CASES:
        entry = {
            "policy": f"image-policy-{case['policy']}",
            "rule": IMAGE_RULE,
            "kind": case["kind"],
            "resources": [case["id"]],
            "result": _expected_result(case),
        }
        if case.get("operation") == "UPDATE":
            entry["operation"] = "UPDATE"
        results.append(entry)
    resources = [workload_object(c["kind"], c["images"], c["namespace"], name=c["id"]) for c in KYVERNO_CASES]
    namespaces = {
        c["namespace"]: {"kubernetes.io/metadata.name": c["namespace"], OPT_IN_LABEL: "enforce"}
        for c in KYVERNO_CASES
    }
    return run_kyverno_test(
        tmp_path_factory.mktemp("kyverno-image-policy"),
        list(image_policies.values()),
        resources,
        results,
        namespaces,
    )


@pytest.fixture(scope="module")
def cel_evaluators():
    built = {}
    for key, policy_values in POLICIES.items():
        objects = render({"engine": "validatingAdmissionPolicy", "policy": policy_values})
        (vap,) = find(objects, "ValidatingAdmissionPolicy")
        (binding,) = find(objects, "ValidatingAdmissionPolicyBinding")
        built[key] = PolicyEvaluator(vap, binding, "cel-cpp")
    return built


@pytest.mark.parametrize("case", KYVERNO_CASES, ids=[c["id"] for c in KYVERNO_CASES])
def test_kyverno_cli_verdict_equals_webhook_and_cel(case, image_messages, image_policies, cel_evaluators):
    message = image_messages[f"image-policy-{case['policy']}", case["id"]]
    failed_rule = verdict_of(message)
    audit = image_policies[case["policy"]]["spec"]["validationFailureAction"] == "Audit"
    # Audit: Kyverno admits and files the failure in a policy report, as the webhook admits with a warning.
    kyverno = Verdict(allowed=not failed_rule or audit, rule=failed_rule or None)
    webhook = webhook_verdict(case)
    cel = cel_evaluators[case["policy"]].review(
        admission_review(case)["request"],
        {"kubernetes.io/metadata.name": case["namespace"], OPT_IN_LABEL: "enforce"},
    )
    assert (kyverno.allowed, kyverno.rule) == (webhook.allowed, webhook.rule), message
    assert (kyverno.allowed, kyverno.rule) == (cel.allowed, cel.rule), message
    assert (kyverno.allowed, kyverno.rule) == (case["allowed"], case["rule"]), message


def test_kyverno_cli_judges_every_policy_and_operation(image_messages):
    verdicts = {verdict_of(m) for m in image_messages.values()}
    # Both verdicts, unjudged requests (exempt namespace, unchanged UPDATE), every table policy.
    assert {None, ""} <= verdicts and len(verdicts - {None, ""}) >= 4
    assert {policy for policy, _ in image_messages} == {f"image-policy-{key}" for key in POLICIES}
    assert any(c.get("operation") == "UPDATE" for c in KYVERNO_CASES)


# --- the security policy pack ----------------------------------------------------------------------

MODES = ("enforce", "audit")


@pytest.fixture(scope="module")
def pack_policies():
    """The six pack ClusterPolicies per mode, named <mode>-<rule> (the chart's names plus a mode
    suffix would pass Kubernetes' 63-character limit, and the CLI skips such a policy silently)."""
    policies = {}
    for mode in MODES:
        rendered = find(
            render({"securityPack": {"enabled": True, "engine": "kyverno", "mode": mode}}), "ClusterPolicy"
        )
        assert len(rendered) == 6
        for policy in rendered:
            policy = copy.deepcopy(policy)
            rule = policy["metadata"]["labels"]["glm-tts.io/security-rule"]
            policy["metadata"]["name"] = f"{mode}-{rule}"
            policies[mode, rule] = policy
    return policies


@pytest.fixture(scope="module")
def pack_messages(tmp_path_factory, pack_policies):
    resources, results = [], []
    for case_id, obj, denied in pack.CASES:
        resource = copy.deepcopy(obj)
        resource["metadata"]["name"] = case_id
        resources.append(resource)
        for (_mode, rule), policy in pack_policies.items():
            results.append(
                {
                    "policy": policy["metadata"]["name"],
                    "rule": policy["spec"]["rules"][0]["name"],
                    "kind": obj["kind"],
                    "resources": [case_id],
                    "result": "fail" if rule == denied else "pass",
                }
            )
    namespaces = {
        o["metadata"]["namespace"]: {"kubernetes.io/metadata.name": o["metadata"]["namespace"]}
        for _, o, _ in pack.CASES
    }
    return run_kyverno_test(
        tmp_path_factory.mktemp("kyverno-security-pack"),
        list(pack_policies.values()),
        resources,
        results,
        namespaces,
    )


@pytest.fixture(scope="module")
def pack_cel():
    return {mode: pack.vap_evaluators("cel-cpp", mode=mode) for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("case_id", "obj", "denied"), pack.CASES, ids=[c[0] for c in pack.CASES])
def test_security_pack_kyverno_cli_equals_cel(
    mode, case_id, obj, denied, pack_messages, pack_policies, pack_cel
):
    failed = {
        rule
        for (m, rule), policy in pack_policies.items()
        if m == mode and verdict_of(pack_messages[policy["metadata"]["name"], case_id])
    }
    labels = {"kubernetes.io/metadata.name": obj["metadata"]["namespace"]}
    cel = {v.rule for e in pack_cel[mode] for v in [e.review(pack.request_for(obj), labels)] if v.rule}
    assert failed == cel == ({denied} if denied else set())
    actions = {p["spec"]["validationFailureAction"] for (m, _), p in pack_policies.items() if m == mode}
    assert actions == {"Enforce" if mode == "enforce" else "Audit"}


def test_security_pack_kyverno_cli_has_a_pass_and_a_fail_per_rule(pack_messages, pack_policies):
    for (mode, rule), policy in pack_policies.items():
        verdicts = {verdict_of(pack_messages[policy["metadata"]["name"], c[0]]) for c in pack.CASES}
        assert "" in verdicts and rule in verdicts, (mode, rule, verdicts)


# --- signatures: verifyImages against cosign-signed images in the local registry -------------------

SIGNATURE_CASES = [c for c in CASES if c["needs_signatures"]]


@pytest.fixture(scope="module")
def signed_images(tmp_path_factory):
    registry = LocalRegistry(oci_registry_binary(), tmp_path_factory.mktemp("kyverno-registry"))
    registry.start()
    try:
        yield SignedImages(registry)
    finally:
        registry.stop()


def _filled(case: dict, images: SignedImages) -> dict:
    digests = images.digests
    return fill(case, registry=images.registry.host, signed=digests["signed"], unsigned=digests["unsigned"])


@pytest.fixture(scope="module")
def signature_run(tmp_path_factory, signed_images):
    """The ClusterPolicy of the kyverno profile (CEL rule + verifyImages with the signing key) on
    the table's signature cases; the CLI pulls the signatures from the registry on 127.0.0.1."""
    values = {"engine": "kyverno", "policy": signature_policy(signed_images.registry.host, signed_images.key)}
    (policy,) = find(render(values), "ClusterPolicy")
    assert {r["name"] for r in policy["spec"]["rules"]} == {IMAGE_RULE, "signed-images"}
    name = policy["metadata"]["name"]
    cases = [_filled(c, signed_images) for c in SIGNATURE_CASES]
    results = [
        {
            "policy": name,
            "rule": rule,
            "kind": case["kind"],
            "resources": [case["id"]],
            "result": "fail" if case["rule"] == "signature" and rule == "signed-images" else "pass",
        }
        for case in cases
        for rule in (IMAGE_RULE, "signed-images")
    ]
    resources = [workload_object(c["kind"], c["images"], c["namespace"], name=c["id"]) for c in cases]
    namespaces = {"glm-tts": {"kubernetes.io/metadata.name": "glm-tts", OPT_IN_LABEL: "enforce"}}
    assert {c["namespace"] for c in cases} == set(namespaces)
    messages = run_kyverno_test(
        tmp_path_factory.mktemp("kyverno-signatures"),
        [policy],
        resources,
        results,
        namespaces,
        summary_must_pass=False,
    )
    return name, messages


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=[c["id"] for c in SIGNATURE_CASES])
def test_kyverno_cli_verifies_signatures_like_the_webhook(case, signature_run, signed_images, start_webhook):
    name, messages = signature_run
    failed_rule = verdict_of(messages[name, case["id"]])
    _, client = start_webhook(signature_policy(signed_images.registry.host, signed_images.key))
    answer = client.post("/validate", content=request_body(_filled(case, signed_images))).json()["response"]
    webhook_rule = None
    if not answer["allowed"]:
        webhook_rule = re.search(r"\[rule ([\w-]+)\]", answer["status"]["message"]).group(1)
    assert (not failed_rule, failed_rule or None) == (answer["allowed"], webhook_rule), messages[
        name, case["id"]
    ]
    assert (not failed_rule, failed_rule or None) == (case["allowed"], case["rule"])
