"""The policy file's secure defaults, the messages its errors and denials show, and its reload.

What a policy that omits a key means is part of the webhook's security contract: every default is
asserted here both as the parsed value and as the decision it leads to. The messages are what a user
reads in `kubectl` output (denials) or in the webhook's log and exit message (policy errors), so they
are asserted word for word.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from glm_tts_hooks.image_policy import policy as policy_module
from glm_tts_hooks.image_policy.policy import (
    MAX_POLICY_BYTES,
    PolicyError,
    PolicyStore,
    PublicKey,
    Violation,
    evaluate_image,
    evaluate_images,
    is_exempt,
    load_policy,
    parse_policy,
)

DIGEST = "sha256:" + "ab" * 32
MINIMAL = {"allowedRegistries": ["a.io"]}


def _pem(public_key) -> str:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def p256():
    return ec.generate_private_key(ec.SECP256R1()).public_key()


def policy(**keys):
    return parse_policy({**MINIMAL, **keys})


def rules(image, pol):
    return [v.rule for v in evaluate_image(image, pol)]


# --- defaults: every key a policy file may omit ---------------------------------------------------


def test_minimal_policy_defaults_every_key_to_the_secure_choice():
    pol = parse_policy(MINIMAL)
    assert pol.mode == "enforce"
    assert pol.audit is False
    assert [str(p) for p in pol.allowed_registries] == ["a.io/"]
    assert pol.require_digest is True
    assert pol.denied_tags == ("latest",)
    assert pol.deny_untagged is True
    assert pol.exempt_namespaces == ()
    # No signatures section: signatures are not checked (there is no key to check them with).
    sig = pol.signatures
    assert sig.required is False
    assert sig.public_keys == ()
    assert sig.cache_ttl_seconds == 300.0
    assert sig.timeout_seconds == 3.0
    assert sig.fail_open is False
    assert sig.insecure_registries == ()
    assert sig.insecure_hosts == frozenset()


def test_signatures_section_defaults_to_required(p256):
    pol = policy(signatures={"publicKeys": [{"name": "ci", "pem": _pem(p256)}]})
    sig = pol.signatures
    assert sig.required is True
    assert [k.name for k in sig.public_keys] == ["ci"]
    assert (sig.cache_ttl_seconds, sig.timeout_seconds, sig.fail_open) == (300.0, 3.0, False)
    assert sig.insecure_registries == ()


def test_empty_signatures_section_demands_a_key():
    with pytest.raises(PolicyError) as err:
        policy(signatures={})
    assert str(err.value) == (
        "signatures.publicKeys: at least one key is needed when signatures.required is true "
        "(add your cosign.pub, or set signatures.required: false)"
    )


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param("a.io/app:latest", ["denied-tag", "digest"], id="latest-denied-by-default"),
        pytest.param("a.io/app:dev", ["digest"], id="only-latest-denied-by-default"),
        pytest.param("a.io/app", ["untagged", "digest"], id="untagged-denied-by-default"),
        pytest.param("a.io/app:1.0", ["digest"], id="digest-required-by-default"),
        pytest.param(f"a.io/app@{DIGEST}", [], id="pinned-admitted"),
        pytest.param(f"a.io/app:1.0@{DIGEST}", [], id="tag-and-digest-admitted"),
        pytest.param(f"b.io/app@{DIGEST}", ["registry"], id="other-registry-refused"),
    ],
)
def test_minimal_policy_decisions(image, expected):
    assert rules(image, parse_policy(MINIMAL)) == expected


def test_no_namespace_is_exempt_by_default():
    pol = parse_policy(MINIMAL)
    assert not is_exempt("kube-system", pol)
    assert evaluate_images("kube-system", ["a.io/app"], pol) == {"a.io/app": evaluate_image("a.io/app", pol)}


@pytest.mark.parametrize(
    ("keys", "image", "expected"),
    [
        pytest.param({"requireDigest": False}, "a.io/app:1.0", [], id="requireDigest-false"),
        pytest.param(
            {"requireDigest": False}, "a.io/app:latest", ["denied-tag"], id="requireDigest-false-latest"
        ),
        pytest.param({"denyUntagged": False}, "a.io/app", ["digest"], id="denyUntagged-false"),
        pytest.param({"denyUntagged": False, "requireDigest": False}, "a.io/app", [], id="both-off"),
        pytest.param({"deniedTags": []}, "a.io/app:latest", ["digest"], id="deniedTags-empty"),
        pytest.param(
            {"deniedTags": ["dev", "rc"]}, "a.io/app:rc", ["denied-tag", "digest"], id="deniedTags-second"
        ),
        pytest.param({"deniedTags": ["dev"]}, "a.io/app:latest", ["digest"], id="deniedTags-replaces-latest"),
        pytest.param(
            {"deniedTags": ["dev"]}, f"a.io/app:dev@{DIGEST}", ["denied-tag"], id="denied-even-pinned"
        ),
        pytest.param(
            {"requireDigest": False}, f"a.io/app@sha512:{'ab' * 64}", [], id="sha512-ok-without-digest-rule"
        ),
        pytest.param({}, f"a.io/app@sha512:{'ab' * 64}", ["digest"], id="sha512-is-not-a-sha256-pin"),
        pytest.param({}, f"a.io/app:1@sha512:{'ab' * 64}", ["digest"], id="tag-and-sha512"),
    ],
)
def test_explicit_keys_change_the_decision(keys, image, expected):
    assert rules(image, policy(**keys)) == expected


# --- the messages of a denial ---------------------------------------------------------------------


def test_registry_denial_lists_every_allowed_prefix_in_order():
    pol = policy(allowedRegistries=["registry.example.com/glm-tts/", "Quay.io", "index.docker.io/library"])
    [v] = evaluate_image(f"ghcr.io/evil/app@{DIGEST}", pol)
    assert v == Violation(
        "registry",
        f"image 'ghcr.io/evil/app@{DIGEST}' (ghcr.io/evil/app) is not from an allowed registry",
        "push the image to one of: registry.example.com/glm-tts/, quay.io/, docker.io/library/",
    )


def test_a_later_allowed_prefix_admits():
    pol = policy(allowedRegistries=["x.io/team/", "a.io/other/", "a.io/app/"])
    assert evaluate_image(f"a.io/app/server@{DIGEST}", pol) == []


def test_every_violation_of_one_image_in_rule_order():
    pol = policy(deniedTags=["latest"])
    assert evaluate_image("b.io/app:latest", pol) == [
        Violation(
            "registry",
            "image 'b.io/app:latest' (b.io/app) is not from an allowed registry",
            "push the image to one of: a.io/",
        ),
        Violation(
            "denied-tag",
            "image 'b.io/app:latest' uses the denied tag 'latest'",
            "use an immutable tag and pin by digest: b.io/app@sha256:<digest>",
        ),
        Violation(
            "digest",
            "image 'b.io/app:latest' is not pinned by a sha256 digest",
            "pin by digest: b.io/app:latest@sha256:<digest>",
        ),
    ]


def test_untagged_denial_message():
    assert evaluate_image("nginx", policy(allowedRegistries=["docker.io"])) == [
        Violation(
            "untagged",
            "image 'nginx' has neither tag nor digest (the runtime would pull :latest)",
            "pin by digest: docker.io/library/nginx@sha256:<digest>",
        ),
        Violation(
            "digest",
            "image 'nginx' is not pinned by a sha256 digest",
            "pin by digest: docker.io/library/nginx@sha256:<digest>",
        ),
    ]


def test_invalid_reference_is_the_only_violation():
    assert evaluate_image("b.io/App:latest", parse_policy(MINIMAL)) == [
        Violation(
            "invalid-reference",
            "image 'b.io/App:latest' has an invalid repository component 'App' "
            "(lower-case letters, digits and . _ - separators only)",
            "write the image as registry/repository@sha256:<64 hex>",
        )
    ]


def test_violation_describe_names_rule_and_fix():
    v = Violation("digest", "image 'x' is not pinned", "pin it")
    assert v.describe() == "image 'x' is not pinned [rule digest]; fix: pin it"


# --- exempt namespaces and several images ---------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "exempt"),
    [
        pytest.param("kube-system", True, id="listed"),
        pytest.param("monitoring", True, id="second-listed"),
        pytest.param("glm-tts", False, id="not-listed"),
        pytest.param("kube", False, id="prefix-is-not-a-match"),
        pytest.param(None, False, id="cluster-scoped"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_exempt(namespace, exempt):
    assert is_exempt(namespace, policy(exemptNamespaces=["kube-system", "monitoring"])) is exempt


def test_exempt_namespace_judges_nothing():
    pol = policy(exemptNamespaces=["kube-system"])
    assert evaluate_images("kube-system", ["b.io/app:latest", ""], pol) == {}


def test_several_images_judged_once_each_in_first_seen_order():
    pol = policy(exemptNamespaces=["kube-system"])
    images = ["b.io/x", f"a.io/ok@{DIGEST}", "b.io/x", "a.io/y:1"]
    result = evaluate_images("glm-tts", images, pol)
    assert list(result) == ["b.io/x", f"a.io/ok@{DIGEST}", "a.io/y:1"]
    assert {image: [v.rule for v in vs] for image, vs in result.items()} == {
        "b.io/x": ["registry", "untagged", "digest"],
        f"a.io/ok@{DIGEST}": [],
        "a.io/y:1": ["digest"],
    }


# --- what a bad policy file says ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(
            {},
            "allowedRegistries: required, e.g. [registry.example.com/glm-tts/]",
            id="allowedRegistries-missing",
        ),
        pytest.param(
            {"allowedRegistries": []},
            "allowedRegistries: an empty list would deny every image; list at least one registry",
            id="allowedRegistries-empty",
        ),
        pytest.param(
            {"allowedRegistries": "a.io"},
            "allowedRegistries: expected a list, got 'a.io'",
            id="allowedRegistries-not-a-list",
        ),
        pytest.param(
            {"allowedRegistries": ["a.io", 5, "", "team/"]},
            "allowedRegistries[1]: expected a registry prefix string, e.g. registry.example.com/glm-tts/; "
            "allowedRegistries[2]: expected a registry prefix string, e.g. registry.example.com/glm-tts/; "
            "allowedRegistries[3]: 'team/' does not start with a registry host: write it fully qualified, "
            "e.g. docker.io/team/ (a host has a '.', a ':port' or is 'localhost')",
            id="allowedRegistries-bad-entries",
        ),
        pytest.param(
            {**MINIMAL, "mode": "block"},
            "mode: 'block' is not one of enforce, audit",
            id="mode-unknown",
        ),
        pytest.param(
            {**MINIMAL, "requiredigest": True},
            "requiredigest: unknown key; allowed here: mode, allowedRegistries, requireDigest, deniedTags, "
            "denyUntagged, exemptNamespaces, signatures",
            id="top-level-typo",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "ttl": 3}},
            "signatures.ttl: unknown key; allowed here: required, publicKeys, cacheTTLSeconds, "
            "timeoutSeconds, failOpen, insecureRegistries",
            id="signatures-typo",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"publicKeys": [{"name": "ci"}]}},
            "signatures.publicKeys[0].pem: required",
            id="key-pem-missing",
        ),
        pytest.param(
            {**MINIMAL, "requireDigest": "yes"},
            "requireDigest: expected true or false, got 'yes'",
            id="bool-as-string",
        ),
        pytest.param(
            {**MINIMAL, "denyUntagged": 1},
            "denyUntagged: expected true or false, got 1",
            id="bool-as-number",
        ),
        pytest.param(
            {**MINIMAL, "requireDigest": "y" * 100},
            "requireDigest: expected true or false, got '" + "y" * 76 + "...",
            id="long-input-shortened",
        ),
        pytest.param(
            {**MINIMAL, "requireDigest": "y" * 78},
            "requireDigest: expected true or false, got '" + "y" * 78 + "'",
            id="80-characters-shown-whole",
        ),
        pytest.param(
            {**MINIMAL, "requireDigest": "y" * 79},
            "requireDigest: expected true or false, got '" + "y" * 76 + "...",
            id="81-characters-shortened",
        ),
        pytest.param(
            {**MINIMAL, "deniedTags": [1, ""]},
            "deniedTags[0]: input should be a valid string, got 1; "
            "deniedTags[1]: string should have at least 1 character, got ''",
            id="deniedTags-entries",
        ),
        pytest.param(
            {**MINIMAL, "exemptNamespaces": "kube-system"},
            "exemptNamespaces: expected a list, got 'kube-system'",
            id="exemptNamespaces-not-a-list",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": "no"}},
            # An unreadable `required` counts as true: a key is still demanded.
            "signatures.required: expected true or false, got 'no'; "
            "signatures.publicKeys: at least one key is needed when signatures.required is true "
            "(add your cosign.pub, or set signatures.required: false)",
            id="required-as-string",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "cacheTTLSeconds": -1}},
            "signatures.cacheTTLSeconds: -1.0 is out of range (input should be greater than or equal to 0)",
            id="ttl-negative",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "timeoutSeconds": 90}},
            "signatures.timeoutSeconds: 90.0 is out of range (input should be less than or equal to 30)",
            id="timeout-over-30",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "timeoutSeconds": 0.05}},
            "signatures.timeoutSeconds: 0.05 is out of range (input should be greater than or equal to 0.1)",
            id="timeout-under-0.1",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "timeoutSeconds": "3"}},
            "signatures.timeoutSeconds: expected a number of seconds, got '3'",
            id="timeout-as-string",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "cacheTTLSeconds": True}},
            "signatures.cacheTTLSeconds: expected a number of seconds, got True",
            id="ttl-as-bool",
        ),
        pytest.param(
            {**MINIMAL, "signatures": {"required": False, "failOpen": "true", "insecureRegistries": [3]}},
            "signatures.failOpen: expected true or false, got 'true'; "
            "signatures.insecureRegistries[0]: input should be a valid string, got 3",
            id="two-signature-errors",
        ),
        pytest.param(
            {"mode": "x", "allowedRegistries": "a.io", "bogus": 1},
            "mode: 'x' is not one of enforce, audit; allowedRegistries: expected a list, got 'a.io'; "
            "bogus: unknown key; allowed here: mode, allowedRegistries, requireDigest, deniedTags, "
            "denyUntagged, exemptNamespaces, signatures",
            id="every-error-listed",
        ),
        pytest.param(
            ["a.io"],
            "the policy must be a YAML mapping with at least allowedRegistries",
            id="not-a-mapping",
        ),
        pytest.param(
            None, "the policy must be a YAML mapping with at least allowedRegistries", id="empty-file"
        ),
    ],
)
def test_policy_error_messages(doc, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(doc)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("keys", "value"),
    [
        pytest.param({"cacheTTLSeconds": 0}, 0.0, id="ttl-zero-allowed"),
        pytest.param({"cacheTTLSeconds": 60}, 60.0, id="ttl-int"),
        pytest.param({"timeoutSeconds": 0.1}, 0.1, id="timeout-lowest"),
        pytest.param({"timeoutSeconds": 30}, 30.0, id="timeout-highest"),
    ],
)
def test_seconds_accept_numbers_within_range(keys, value):
    sig = policy(signatures={"required": False, **keys}).signatures
    got = sig.cache_ttl_seconds if "cacheTTLSeconds" in keys else sig.timeout_seconds
    assert got == value and type(got) is float


def test_key_errors_name_the_key_and_the_problem(p256):
    # Only its type matters here: a small RSA key is quick to make.
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    keys = [
        {"name": "a", "pem": _pem(rsa_key)},
        {"name": "b", "pem": _pem(p384)},
        {"name": "c", "pem": "ssh-ed25519 AAAA"},
        {"name": "d", "pem": "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n"},
        {"name": "", "pem": _pem(p256), "id": 1},
    ]
    with pytest.raises(PolicyError) as err:
        policy(signatures={"publicKeys": keys})
    assert str(err.value) == "; ".join(
        [
            "signatures.publicKeys[0].pem: cosign keys are ECDSA P-256; this key is RSAPublicKey",
            "signatures.publicKeys[1].pem: cosign keys are ECDSA P-256; this key is ECPublicKey",
            "signatures.publicKeys[2].pem: expected a PEM public key (-----BEGIN PUBLIC KEY-----)",
            "signatures.publicKeys[3].pem: not a readable PEM public key (Unable to load PEM file. "
            "See https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file for more details. "
            "InvalidData(Invalid padding))",
            "signatures.publicKeys[4].name: string should have at least 1 character, got ''",
            "signatures.publicKeys[4].id: unknown key; allowed here: name, pem",
        ]
    )


def test_key_names_must_be_unique(p256):
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(PolicyError) as err:
        policy(
            signatures={"publicKeys": [{"name": "ci", "pem": _pem(p256)}, {"name": "ci", "pem": _pem(other)}]}
        )
    assert str(err.value) == "signatures.publicKeys: key names must be unique"


def test_several_keys_and_optional_signatures(p256):
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pol = policy(
        signatures={
            "required": False,
            "publicKeys": [{"name": "ci", "pem": _pem(p256)}, {"name": "release", "pem": _pem(other)}],
            "failOpen": True,
            "insecureRegistries": ["Localhost:5000/", "reg.lan"],
        }
    )
    sig = pol.signatures
    assert sig.required is False and sig.fail_open is True
    assert [k.name for k in sig.public_keys] == ["ci", "release"]
    assert sig.insecure_hosts == frozenset({"localhost:5000", "reg.lan"})


def test_public_key_of_and_fingerprint(p256):
    key = PublicKey.of("ci", p256)
    assert key.name == "ci"
    assert key.pem == _pem(p256)
    assert key.key.public_numbers() == p256.public_numbers()
    der = p256.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert key.fingerprint == hashlib.sha256(der).hexdigest()
    # The fingerprint identifies the key, not its name.
    assert PublicKey(name="other", pem=key.pem).fingerprint == key.fingerprint


# --- the policy file and its reload ---------------------------------------------------------------


def test_load_policy_errors_name_the_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(PolicyError) as err:
        load_policy(missing)
    assert str(err.value) == f"{missing}: cannot read the policy file (No such file or directory)"

    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: audit\n")
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert str(err.value) == f"{bad}: allowedRegistries: required, e.g. [registry.example.com/glm-tts/]"

    broken = tmp_path / "broken.yaml"
    broken.write_text("allowedRegistries: [a.io\n")
    with pytest.raises(PolicyError) as err:
        load_policy(broken)
    assert str(err.value).startswith(f"{broken}: not valid YAML (while parsing a flow sequence")


def test_load_policy_refuses_a_file_over_one_mebibyte(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_bytes(b"allowedRegistries: [a.io]\n" + b"#" * MAX_POLICY_BYTES)
    with pytest.raises(PolicyError) as err:
        load_policy(over)
    assert str(err.value) == f"{over}: larger than 1048576 bytes"


def test_load_policy_size_limit_is_inclusive(tmp_path, monkeypatch):
    # A small limit keeps YAML parsing fast; the boundary is what matters.
    body = b"allowedRegistries: [a.io]\n"
    monkeypatch.setattr(policy_module, "MAX_POLICY_BYTES", len(body) + 3)
    at_limit = tmp_path / "at-limit.yaml"
    at_limit.write_bytes(body + b"#\n\n")
    assert [str(p) for p in load_policy(at_limit).allowed_registries] == ["a.io/"]
    over = tmp_path / "over.yaml"
    over.write_bytes(body + b"#\n\n\n")
    with pytest.raises(PolicyError) as err:
        load_policy(over)
    assert str(err.value) == f"{over}: larger than {len(body) + 3} bytes"


def test_load_policy_limit_counts_bytes_not_characters(tmp_path, monkeypatch):
    body = b"allowedRegistries: [a.io]\n"
    monkeypatch.setattr(policy_module, "MAX_POLICY_BYTES", len(body) + 3)
    path = tmp_path / "policy.yaml"
    path.write_bytes(body + "#\u00e9\u00e9".encode())  # 3 characters, 5 bytes
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value) == f"{path}: larger than {len(body) + 3} bytes"


def test_load_policy_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"allowedRegistries: [a.io]\n# \xff\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value) == (
        f"{path}: not valid YAML (unacceptable character #x00ff: invalid start byte\n"
        '  in "<byte string>", position 28)'
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_load_policy_stops_reading_at_the_limit(tmp_path):
    # An endless (or huge) file is refused after limit+1 bytes, without waiting for its end.
    fifo = tmp_path / "policy.yaml"
    os.mkfifo(fifo)
    done = threading.Event()
    waited = []

    def writer():
        try:
            with open(fifo, "wb") as out:
                out.write(b"#" * (MAX_POLICY_BYTES + 4096))
                out.flush()
                waited.append(not done.wait(3))  # keep the pipe open: no end of file yet
        except BrokenPipeError:  # the reader stopped before the end, as it should
            waited.append(False)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(PolicyError) as err:
            load_policy(fifo)
    finally:
        done.set()
        thread.join(10)
    assert str(err.value) == f"{fifo}: larger than 1048576 bytes"
    assert waited == [False]


def _rewrite(path, text, tick):
    path.write_text(text)
    os.utime(path, ns=(1, tick * 10**18))  # a new stamp even within one mtime tick


def test_policy_store_reload_reports_each_outcome(tmp_path, caplog):
    path = tmp_path / "policy.yaml"
    path.write_text("allowedRegistries: [a.io]\n")
    events = []
    store = PolicyStore(str(path), on_reload=lambda ok, error: events.append((ok, error)))
    assert store.path == str(path)
    assert store.last_error is None
    first = store.current()
    assert store.current() is first  # unchanged file: the same policy, no reload
    assert events == []

    caplog.set_level(logging.INFO, logger="glm_tts_hooks.image_policy.policy")
    _rewrite(path, "mode: audit\nallowedRegistries: [b.io]\n", 1)
    assert store.current().mode == "audit"
    assert events == [(True, None)]
    assert caplog.messages == [f"policy reloaded from {path} (mode audit)"]

    caplog.clear()
    _rewrite(path, "mode: nonsense\nallowedRegistries: [a.io]\n", 2)
    kept = store.current()
    assert kept.mode == "audit" and [str(p) for p in kept.allowed_registries] == ["b.io/"]
    error = f"{path}: mode: 'nonsense' is not one of enforce, audit"
    assert store.last_error == error
    assert events == [(True, None), (False, error)]
    assert caplog.messages == [f"policy reload failed, keeping the last good policy: {error}"]
    assert store.current() is kept and len(events) == 2  # the bad file is not re-read every request

    path.unlink()  # a ConfigMap mid-swap: keep the last good policy
    assert store.current() is kept
    assert store.last_error.startswith(f"{path}: cannot read the policy file")

    _rewrite(path, "allowedRegistries: [c.io]\n", 3)
    assert [str(p) for p in store.current().allowed_registries] == ["c.io/"]
    assert store.last_error is None
    assert [ok for ok, _ in events] == [True, False, False, True]


def test_policy_store_without_callback_still_reloads(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("allowedRegistries: [a.io]\n")
    store = PolicyStore(str(path))
    _rewrite(path, "mode: bad\nallowedRegistries: [a.io]\n", 1)
    assert store.current().mode == "enforce"
    _rewrite(path, "mode: audit\nallowedRegistries: [a.io]\n", 2)
    assert store.current().mode == "audit"


def test_policy_store_refuses_a_bad_file_at_startup(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("allowedRegistries: []\n")
    with pytest.raises(PolicyError, match="an empty list would deny every image"):
        PolicyStore(str(path))
