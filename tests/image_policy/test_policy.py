"""The pure policy decision and the policy file loader, driven by the shared case table."""

from __future__ import annotations

import os
import textwrap

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from glm_tts_hooks.image_policy.policy import (
    RULES,
    PolicyError,
    PolicyStore,
    evaluate_image,
    evaluate_images,
    load_policy,
    parse_policy,
)
from glm_tts_hooks.image_policy.reference import InvalidReference, RegistryPrefix, parse_reference

from image_policy.cases import CASES, CONTAINER_KINDS, POLICIES, judged_images

PURE_CASES = [c for c in CASES if not c["needs_signatures"] and not c.get("body")]


@pytest.mark.parametrize("case", PURE_CASES, ids=[c["id"] for c in PURE_CASES])
def test_case_table_pure_decision(case):
    policy = parse_policy(POLICIES[case["policy"]])
    images = judged_images(case)
    violations = [v for vs in evaluate_images(case["namespace"], images, policy).values() for v in vs]
    rules = sorted((v.rule for v in violations), key=RULES.index)
    assert (rules[0] if rules else None) == case["rule"]
    assert (not rules or policy.audit) == case["allowed"]


def test_case_table_covers_every_rule_kind_and_api():
    rules = {c["rule"] for c in CASES}
    assert set(RULES) <= rules
    kinds = {c["kind"] for c in CASES}
    assert {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"} <= kinds
    assert {k for c in CASES for k in c["images"]} == set(CONTAINER_KINDS)
    assert {c["api"] for c in CASES} == {"AdmissionReview", "ImageReview"}
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ("docker.io", "library/nginx", None, None)),
        ("user/app:1", ("docker.io", "user/app", "1", None)),
        ("localhost/app", ("localhost", "app", None, None)),
        ("localhost:5000/a/b:t", ("localhost:5000", "a/b", "t", None)),
        ("[::1]:5000/app", ("[::1]:5000", "app", None, None)),
        ("Quay.IO/org/app", ("quay.io", "org/app", None, None)),
        ("index.docker.io/nginx", ("docker.io", "library/nginx", None, None)),
        (f"r.io/a:v1@sha256:{'0' * 64}", ("r.io", "a", "v1", f"sha256:{'0' * 64}")),
    ],
)
def test_reference_normalisation(image, expected):
    ref = parse_reference(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


@pytest.mark.parametrize(
    "image", ["", "UPPER/app", "app@sha256:abc", "app:bad tag", "r.io/a:", "r.io//a", "-host.io/a", "a:b:c"]
)
def test_reference_rejects_malformed(image):
    with pytest.raises(InvalidReference):
        parse_reference(image)


def test_prefix_path_boundary():
    prefix = RegistryPrefix.parse("reg.example.com/ai/")
    assert prefix.admits(parse_reference("reg.example.com/ai/x"))
    assert prefix.admits(parse_reference("reg.example.com/ai"))
    assert not prefix.admits(parse_reference("reg.example.com/ai-evil/x"))
    assert not prefix.admits(parse_reference("reg.example.com:443/ai/x"))


def test_denial_names_the_fix():
    policy = parse_policy(POLICIES["enforce"])
    [violation] = evaluate_image("registry.example.com/glm-tts/server:1.0", policy)
    assert violation.rule == "digest"
    assert "registry.example.com/glm-tts/server:1.0@sha256:" in violation.fix


def _pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[]", "YAML mapping"),
        ("mode: block\nallowedRegistries: [a.io]", "mode"),
        ("allowedRegistries: []", "empty list"),
        ("allowedRegistries: [myorg/]", "registry host"),
        ("allowedRegistries: [a.io]\nrequiredigest: true", "unknown key"),
        ("allowedRegistries: [a.io]\nrequireDigest: 'yes'", "requireDigest"),
        ("allowedRegistries: [a.io]\nsignatures: {required: true}", "signatures.publicKeys"),
        ("allowedRegistries: [a.io]\nsignatures: {required: false, timeoutSeconds: 90}", "timeoutSeconds"),
        ("allowedRegistries: [a.io]\nsignatures: {publicKeys: [{name: ci, pem: nope}]}", "pem"),
        ("allowedRegistries: [a.io\n", "not valid YAML"),
    ],
)
def test_policy_errors_name_the_key(tmp_path, doc, message):
    path = tmp_path / "policy.yaml"
    path.write_text(doc)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_policy_rejects_non_p256_keys(tmp_path):
    rsa_pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    path = tmp_path / "policy.yaml"
    path.write_text(
        "allowedRegistries: [a.io]\nsignatures:\n  publicKeys:\n    - name: ci\n      pem: |\n"
        + textwrap.indent(rsa_pem, "        ")
    )
    with pytest.raises(PolicyError, match="ECDSA P-256"):
        load_policy(path)


def test_policy_with_key_loads(tmp_path):
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    path = tmp_path / "policy.yaml"
    path.write_text(
        "allowedRegistries: [a.io]\nsignatures:\n  publicKeys:\n    - name: ci\n      pem: |\n"
        + textwrap.indent(pem, "        ")
    )
    policy = load_policy(path)
    assert policy.signatures.required and policy.signatures.public_keys[0].name == "ci"


def test_policy_store_reloads_and_keeps_last_good(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("allowedRegistries: [a.io]\n")
    events = []
    store = PolicyStore(str(path), on_reload=lambda ok, err: events.append(ok))
    assert store.current().mode == "enforce"

    path.write_text("mode: audit\nallowedRegistries: [a.io]\n")
    os.utime(path, ns=(1, 10**18))  # the fingerprint changes even within one mtime tick
    assert store.current().mode == "audit"

    path.write_text("mode: nonsense\nallowedRegistries: [a.io]\n")
    os.utime(path, ns=(1, 2 * 10**18))
    assert store.current().mode == "audit"  # the last good policy stays in force
    assert "mode" in store.last_error
    assert events == [True, False]
