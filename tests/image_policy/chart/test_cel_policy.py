"""The rendered ValidatingAdmissionPolicy, evaluated with real CEL libraries, agrees with the webhook.

For every case of the shared table (tests/image_policy/cases.py) that needs no registry: render the chart
with that case's policy as values, evaluate the policy's CEL as the API server would, and compare the
verdict (allowed, first rule) with the webhook's own decision function on the same images.
"""

from __future__ import annotations

import itertools

import pytest
from glm_tts_hooks.image_policy.policy import RULES, evaluate_images, parse_policy
from harness.helm import find
from hypothesis import given, settings
from hypothesis import strategies as st

from image_policy.cases import (
    CASES,
    CONTAINER_KINDS,
    OPT_IN_LABEL,
    POLICIES,
    WORKLOAD_KINDS,
    admission_review,
    judged_images,
    pod_spec,
)

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
    images = judged_images(case)
    rules = sorted(
        (v.rule for vs in evaluate_images(case["namespace"], images, policy).values() for v in vs),
        key=RULES.index,
    )
    return Verdict(allowed=not rules or policy.audit, rule=rules[0] if rules else None)


def namespace_labels(namespace: str) -> dict[str, str]:
    # The API server sets the name label on every namespace; the table's namespaces have opted in.
    return {"kubernetes.io/metadata.name": namespace, OPT_IN_LABEL: "enforce"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CEL_CASES, ids=[c["id"] for c in CEL_CASES])
def test_cel_verdict_matches_webhook(case, engine, evaluators):
    request = admission_review(case)["request"]
    got = evaluators[case["policy"], engine].review(request, namespace_labels(case["namespace"]))
    expected = webhook_verdict(case)
    assert (got.allowed, got.rule) == (expected.allowed, expected.rule), got.message
    if got.rule:
        # The message names the rule and the first offending container (invalid reference) or image.
        assert got.message.endswith(f"[rule {got.rule}]"), got.message
        spec = pod_spec(case["images"])
        named = [c["name"] for kind in CONTAINER_KINDS for c in spec.get(kind, [])]
        named += [i for images in case["images"].values() for i in images if i]
        assert any(f" {n} " in got.message for n in named) or "docker.io/" in got.message, got.message
    # The table states the same verdict; a drift between table and webhook would hide here otherwise.
    assert (expected.allowed, expected.rule) == (case["allowed"], case["rule"])


def test_cel_cases_cover_both_verdicts_every_container_and_workload_kind():
    assert {c["allowed"] for c in CEL_CASES} == {True, False}
    assert {k for c in CEL_CASES for k in c["images"]} == set(CONTAINER_KINDS)
    assert set(WORKLOAD_KINDS) <= {c["kind"] for c in CEL_CASES}
    assert set(RULES) - {"signature"} <= {c["rule"] for c in CEL_CASES}


# Edge cases the shared table leaves out, judged by the webhook itself (no expected values of ours):
# localhost and port hosts, Docker Hub spellings, hosts told from path components, tags with dots.
EDGE_POLICY = {
    "mode": "enforce",
    "allowedRegistries": [
        "localhost",
        "localhost:5000/team/",
        "docker.io/library/nginx",
        "docker.io/someuser/",
        "quay.io/org/app",
    ],
    "requireDigest": False,
    "deniedTags": ["latest", "1.0"],
    "denyUntagged": True,
    "exemptNamespaces": [],
}
EDGE_IMAGES = [
    "localhost/app:1",
    "localhost/app",
    "Localhost/app:1",
    "LOCALHOST:5000/team/app:1",
    "localhost:5000/team/app:2",
    "localhost:5000/teamx/app:2",
    "localhost:5000/team/app",
    "localhost:5000/app:1",
    "localhostx/app:1",
    "nginx:1.27",
    "nginx",
    "nginx:1.0",
    "nginx:1x0",
    "nginx:latest@sha256:" + "a" * 64,
    "nginx@sha256:" + "b" * 64,
    "docker.io/nginx:1",
    "index.docker.io/nginx:1",
    "index.docker.io/library/nginx:1",
    "docker.io/library/nginx",
    "nginx-evil:1",
    "library/nginx:1",
    "library/nginx/sub:1",
    "someuser/app:1",
    "docker.io/someuser/app/x:1",
    "someuser:1",
    "quay.io/org/app:3",
    "quay.io/org/app/sub:3",
    "quay.io/org/application:3",
    "Quay.IO/org/app:3",
    "a_b.c/x:1",
    "a_b/x:1",
    "foo.bar:1.0",
    "foo.bar/x:1",
    "foo.bar",
    "[::1]:5000/app:1",
    "UPPER/app:1",
    "app:bad tag",
    "r.io//a",
    "-host.io/a",
    "a:b:c",
    "r.io/a:",
    "app@sha512:" + "c" * 128,
    "app@sha256:" + "C" * 64,
    "app@sha256:abc",
    "registry.example.com:443/team/app:1",
    "",
    "Foo.bar:1",
]


# Docker Hub as a bare host, no denied tags and untagged allowed: the template leaves those rules out.
HUB_POLICY = {
    "mode": "enforce",
    "allowedRegistries": ["index.docker.io", "localhost:5000"],
    "requireDigest": True,
    "deniedTags": [],
    "denyUntagged": False,
    "exemptNamespaces": [],
}


@pytest.fixture(scope="module")
def hub_evaluator():
    objects = render({"engine": "validatingAdmissionPolicy", "policy": HUB_POLICY})
    (vap,) = find(objects, "ValidatingAdmissionPolicy")
    (binding,) = find(objects, "ValidatingAdmissionPolicyBinding")
    messages = " ".join(v["message"] for v in vap["spec"]["validations"])
    assert "[rule denied-tag]" not in messages and "[rule untagged]" not in messages
    return PolicyEvaluator(vap, binding, "cel-cpp")


@pytest.fixture(scope="module")
def edge_evaluators():
    objects = render({"engine": "validatingAdmissionPolicy", "policy": EDGE_POLICY})
    (vap,) = find(objects, "ValidatingAdmissionPolicy")
    (binding,) = find(objects, "ValidatingAdmissionPolicyBinding")
    return {engine: PolicyEvaluator(vap, binding, engine) for engine in ENGINES}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("container_kind", CONTAINER_KINDS)
def test_cel_matches_webhook_on_edge_references(engine, container_kind, edge_evaluators):
    policy = parse_policy(EDGE_POLICY)
    mismatches = []
    for image in EDGE_IMAGES:
        case = {"kind": "Pod", "namespace": "apps", "images": {container_kind: [image]}}
        violations = sorted(
            (v.rule for v in evaluate_images("apps", [image], policy)[image]), key=RULES.index
        )
        expected = (not violations, violations[0] if violations else None)
        got = edge_evaluators[engine].review(admission_review(case)["request"], namespace_labels("apps"))
        if (got.allowed, got.rule) != expected:
            mismatches.append(f"{image!r}: webhook {expected}, CEL {(got.allowed, got.rule)}")
    assert not mismatches, "\n".join(mismatches)


# Generated references, built from parts that sit on every boundary of the grammar and the policy.
HOSTS = [
    "",
    "localhost/",
    "localhost:5000/",
    "LOCALHOST:5000/",
    "Registry.Example.com/",
    "registry.example.com/",
    "registry.example.com:443/",
    "registry.example.com.evil.io/",
    "a_b.c/",
    "foo.bar/",
    "[::1]:5000/",
    "index.docker.io/",
    "docker.io/",
    "quay.io/",
    "Quay.IO/",
    "UPPER/",
    "x/",
    "-x.io/",
]
COMPONENTS = [
    "glm-tts",
    "server",
    "library",
    "nginx",
    "someuser",
    "team",
    "teamx",
    "glm-tts-evil",
    "org",
    "app",
    "a__b",
    "a_b",
    "a--b",
    "a..b",
    "A",
    "x.y",
    "X.y",
    "",
]
TAGS = [None, "latest", "dev", "1.0", "1x0", "v1.2.3", "bad tag", "", "-x", "_ok", "1.2.0"]
DIGESTS = [
    None,
    "sha256:" + "0" * 64,
    "sha256:" + "A" * 64,
    "sha256:abc",
    "sha512:" + "ab" * 64,
    "sha256:" + "g" * 64,
    "md5:" + "x" * 32,
]


@st.composite
def references(draw):
    image = draw(st.sampled_from(HOSTS))
    image += "/".join(draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3)))
    tag, digest = draw(st.sampled_from(TAGS)), draw(st.sampled_from(DIGESTS))
    return image + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest is not None else "")


@pytest.mark.parametrize("policy_name", ["enforce", "tags", "edge"])
def test_cel_matches_webhook_on_generated_references(policy_name, evaluators, edge_evaluators):
    values = EDGE_POLICY if policy_name == "edge" else POLICIES[policy_name]
    evaluator = edge_evaluators["rust-cel"] if policy_name == "edge" else evaluators[policy_name, "rust-cel"]
    policy = parse_policy(values)

    @settings(max_examples=250, deadline=None, derandomize=True, database=None)
    @given(image=references())
    def agree(image):
        case = {"kind": "Pod", "namespace": "apps", "images": {"containers": [image]}}
        rules = sorted((v.rule for v in evaluate_images("apps", [image], policy)[image]), key=RULES.index)
        got = evaluator.review(admission_review(case)["request"], namespace_labels("apps"))
        assert (got.allowed, got.rule) == (not rules, rules[0] if rules else None), image

    agree()


def grid_references():
    """Every host with every first component (tag and digest rotating), run on cel-cpp (RE2)."""
    images = []
    for i, (host, component) in enumerate(itertools.product(HOSTS, COMPONENTS)):
        tag, digest = TAGS[i % len(TAGS)], DIGESTS[(i // len(TAGS)) % len(DIGESTS)]
        for path in (component, f"{component}/server"):
            image = host + path + (f":{tag}" if tag is not None else "")
            images.append(image + (f"@{digest}" if digest is not None else ""))
    return images


@pytest.mark.parametrize("policy_name", ["enforce", "edge", "hub"])
def test_cel_matches_webhook_on_reference_grid(policy_name, evaluators, edge_evaluators, hub_evaluator):
    if policy_name == "hub":
        values, evaluator = HUB_POLICY, hub_evaluator
    elif policy_name == "edge":
        values, evaluator = EDGE_POLICY, edge_evaluators["cel-cpp"]
    else:
        values, evaluator = POLICIES[policy_name], evaluators[policy_name, "cel-cpp"]
    policy = parse_policy(values)
    mismatches = []
    for image in grid_references():
        case = {"kind": "Pod", "namespace": "apps", "images": {"containers": [image]}}
        rules = sorted((v.rule for v in evaluate_images("apps", [image], policy)[image]), key=RULES.index)
        got = evaluator.review(admission_review(case)["request"], namespace_labels("apps"))
        if (got.allowed, got.rule) != (not rules, rules[0] if rules else None):
            mismatches.append(f"{image!r}: webhook {rules[:1]}, CEL {got.rule}")
    assert not mismatches, "\n".join(mismatches[:20])
