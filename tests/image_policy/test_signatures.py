"""cosign signatures end to end: a real OCI registry (docker-registry), images signed in both cosign
layouts by the test, and the webhook over HTTPS deciding on them."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from glm_tts_hooks.image_policy.reference import parse_reference
from glm_tts_hooks.image_policy.registry import Deadline

from image_policy import oci
from image_policy.cases import CASES, POLICIES, fill, request_body
from image_policy.registry_fixture import LocalRegistry, oci_registry_binary

REPO = "glm-tts/server"


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signature_policy(registry_host: str, key: ec.EllipticCurvePrivateKey, **signatures) -> dict:
    return {
        **POLICIES["enforce"],
        "allowedRegistries": [f"{registry_host}/glm-tts/"],
        "signatures": {
            "required": True,
            "publicKeys": [{"name": "ci", "pem": public_pem(key)}],
            "timeoutSeconds": 2,
            "insecureRegistries": [registry_host],
            **signatures,
        },
    }


def pod_review(*images: str, namespace: str = "glm-tts") -> dict:
    case = {
        "api": "AdmissionReview",
        "kind": "Pod",
        "namespace": namespace,
        "images": {"containers": list(images)},
    }
    return json.loads(request_body(case))


class SignedImages:
    """One registry holding an image per signing scenario (pushed once per module)."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.registry = registry
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.other_key = ec.generate_private_key(ec.SECP256R1())
        self.digests: dict[str, str] = {}
        pusher = oci.OciPusher(registry.url)
        try:
            self._push_all(pusher)
        finally:
            pusher.close()

    def ref(self, scenario: str) -> str:
        repo = REPO if scenario in ("signed", "unsigned") else f"glm-tts/{scenario}"
        return f"{self.registry.host}/{repo}@{self.digests[scenario]}"

    def _push_all(self, pusher: oci.OciPusher) -> None:
        host, key, other = self.registry.host, self.key, self.other_key
        sbom = "https://cyclonedx.org/bom"

        def image(scenario: str, repo: str | None = None) -> tuple[str, str, int]:
            repo = repo or f"glm-tts/{scenario}"
            digest, size = pusher.image(repo, scenario)
            self.digests[scenario] = digest
            return repo, digest, size

        repo, digest, _ = image("signed", REPO)
        oci.sign_sig_tag(pusher, repo, f"{host}/{repo}", digest, key)
        image("unsigned", REPO)
        repo, digest, size = image("bundle-dsse")
        oci.attach_bundle(pusher, repo, digest, size, oci.dsse_bundle(f"{host}/{repo}", digest, key))
        repo, digest, size = image("bundle-message")
        oci.attach_bundle(pusher, repo, digest, size, oci.message_bundle(digest, key))
        repo, digest, _ = image("sig-tampered")
        oci.sign_sig_tag(pusher, repo, f"{host}/{repo}", digest, key, tamper=lambda p: p + b"\n")
        repo, digest, _ = image("sig-wrong-key")
        oci.sign_sig_tag(pusher, repo, f"{host}/{repo}", digest, other)
        repo, digest, _ = image("sig-digest-mismatch")
        elsewhere = self.digests["unsigned"]
        oci.sign_sig_tag(
            pusher, repo, f"{host}/{repo}", digest, key, payload=oci.simple_signing_payload(repo, elsewhere)
        )
        repo, digest, _ = image("sig-uppercase-digest")  # cosign compares digests case-insensitively
        upper = oci.simple_signing_payload(repo, "sha256:" + digest.split(":")[1].upper())
        oci.sign_sig_tag(pusher, repo, f"{host}/{repo}", digest, key, payload=upper)
        repo, digest, size = image("bundle-tampered")
        bundle = oci.dsse_bundle(repo, digest, key, tamper=lambda s: s + b"\n")
        oci.attach_bundle(pusher, repo, digest, size, bundle)
        repo, digest, size = image("bundle-attestation-only")
        oci.attach_bundle(pusher, repo, digest, size, oci.dsse_bundle(repo, digest, key, predicate_type=sbom))
        repo, digest, size = image("bundle-subject-mismatch")
        oci.attach_bundle(pusher, repo, digest, size, oci.dsse_bundle(repo, self.digests["unsigned"], key))
        repo, digest, size = image("bundle-wrong-key")
        oci.attach_bundle(pusher, repo, digest, size, oci.dsse_bundle(repo, digest, other))


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> SignedImages:
    workdir = tmp_path_factory.mktemp("signed-registry")
    registry = LocalRegistry(oci_registry_binary(), workdir)
    registry.start()
    try:
        yield SignedImages(registry)
    finally:
        registry.stop()


SCENARIOS = [
    ("signed", True, "sig-tag"),
    ("bundle-dsse", True, "referrer-bundle"),
    ("sig-uppercase-digest", True, "sig-tag"),
    ("unsigned", False, "no cosign signature found"),
    ("sig-tampered", False, "does not verify"),
    ("sig-wrong-key", False, "does not verify with the trusted key(s) ci"),
    ("sig-digest-mismatch", False, "not the image digest"),
    ("bundle-tampered", False, "does not verify"),
    ("bundle-attestation-only", False, "attestation, not a cosign signature"),
    ("bundle-subject-mismatch", False, "subject is not the image digest"),
    ("bundle-wrong-key", False, "does not verify"),
    ("bundle-message", False, "messageSignature (a signed blob)"),
]


@pytest.mark.parametrize(("scenario", "allowed", "detail"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_signature_scenarios(signed, start_webhook, scenario, allowed, detail):
    server, client = start_webhook(signature_policy(signed.registry.host, signed.key))
    answer = client.post("/validate", json=pod_review(signed.ref(scenario))).json()["response"]
    assert answer["allowed"] is allowed, answer
    if allowed:
        # Which cosign layout carried the valid signature (each image has exactly one).
        keys = server.policies.current().signatures.public_keys
        verdict = server.decider.verifier.verify(parse_reference(signed.ref(scenario)), keys, Deadline(2))
        assert verdict.verified and verdict.layout == detail
    else:
        message = answer["status"]["message"]
        assert "[rule signature]" in message and detail in message and "cosign sign --key" in message


SIGNATURE_CASES = [c for c in CASES if c["needs_signatures"]]


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=[c["id"] for c in SIGNATURE_CASES])
def test_case_table_signature_cases(signed, start_webhook, case):
    _, client = start_webhook(signature_policy(signed.registry.host, signed.key))
    filled = fill(
        case,
        registry=signed.registry.host,
        signed=signed.digests["signed"],
        unsigned=signed.digests["unsigned"],
    )
    answer = client.post("/validate", content=request_body(filled)).json()["response"]
    assert answer["allowed"] is case["allowed"]
    if case["rule"]:
        assert f"[rule {case['rule']}]" in answer["status"]["message"]


def test_imagereview_checks_signatures(signed, start_webhook):
    _, client = start_webhook(signature_policy(signed.registry.host, signed.key))
    review = {
        "apiVersion": "imagepolicy.k8s.io/v1alpha1",
        "kind": "ImageReview",
        "spec": {
            "containers": [{"image": signed.ref("signed")}, {"image": signed.ref("unsigned")}],
            "namespace": "glm-tts",
        },
    }
    status = client.post("/imagereview", json=review).json()["status"]
    assert status["allowed"] is False and "[rule signature]" in status["reason"]
    review["spec"]["containers"].pop()
    assert client.post("/imagereview", json=review).json()["status"]["allowed"] is True


def test_unlisted_registry_is_never_contacted(signed, start_webhook):
    # The image is refused on the allow-list before any registry call (no SSRF through pod specs).
    policy = signature_policy(signed.registry.host, signed.key)
    policy["allowedRegistries"] = ["registry.example.com/glm-tts/"]
    _, client = start_webhook(policy)
    answer = client.post("/validate", json=pod_review(signed.ref("signed"))).json()["response"]
    assert answer["allowed"] is False and "[rule registry]" in answer["status"]["message"]
    assert "glm_tts_image_policy_signature_cache_total{" not in client.get("/metrics").text


def test_cached_verdict_survives_registry_outage_and_ttl_zero_does_not(oci_registry, start_webhook):
    key = ec.generate_private_key(ec.SECP256R1())
    pusher = oci.OciPusher(oci_registry.url)
    digest, _ = pusher.image(REPO, "cache")
    oci.sign_sig_tag(pusher, REPO, f"{oci_registry.host}/{REPO}", digest, key)
    pusher.close()
    image = f"{oci_registry.host}/{REPO}@{digest}"
    _, cached = start_webhook(signature_policy(oci_registry.host, key, cacheTTLSeconds=300))
    _, uncached = start_webhook(signature_policy(oci_registry.host, key, cacheTTLSeconds=0))
    assert cached.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True
    assert uncached.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True

    oci_registry.stop()
    assert cached.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True
    answer = uncached.post("/validate", json=pod_review(image)).json()["response"]
    assert answer["allowed"] is False and "could not be checked" in answer["status"]["message"]
    metrics = cached.get("/metrics").text
    assert 'glm_tts_image_policy_signature_cache_total{result="hit"} 1.0' in metrics
    assert 'glm_tts_image_policy_signature_cache_total{result="miss"} 1.0' in metrics


def test_registry_stopped_fails_closed_quickly(oci_registry, start_webhook):
    key = ec.generate_private_key(ec.SECP256R1())
    image = f"{oci_registry.host}/{REPO}@sha256:{'ab' * 32}"
    oci_registry.stop()
    _, client = start_webhook(signature_policy(oci_registry.host, key, timeoutSeconds=2))
    started = time.monotonic()
    answer = client.post("/validate", json=pod_review(image)).json()["response"]
    elapsed = time.monotonic() - started
    assert answer["allowed"] is False
    assert (
        "could not be checked" in answer["status"]["message"]
        and "cannot connect" in answer["status"]["message"]
    )
    assert elapsed < 2.0, f"a refused connection must not wait for the deadline ({elapsed:.2f}s)"
    assert 'glm_tts_image_policy_registry_errors_total{registry="127.0.0.1' in client.get("/metrics").text


def test_unresponsive_registry_is_denied_at_the_deadline(start_webhook):
    # A registry that accepts connections but never answers: only the deadline ends the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        key = ec.generate_private_key(ec.SECP256R1())
        _, client = start_webhook(signature_policy(host, key, timeoutSeconds=1))
        started = time.monotonic()
        answer = client.post("/validate", json=pod_review(f"{host}/{REPO}@sha256:{'cd' * 32}")).json()[
            "response"
        ]
        elapsed = time.monotonic() - started
    assert answer["allowed"] is False
    assert "1s registry deadline" in answer["status"]["message"]
    # The decision comes at the 1 s registry deadline, well inside the API server's 5 s webhook timeout.
    assert 0.9 <= elapsed < 3.0, f"denied after {elapsed:.2f}s"


def test_fail_open_admits_with_a_warning(oci_registry, start_webhook):
    key = ec.generate_private_key(ec.SECP256R1())
    oci_registry.stop()
    _, client = start_webhook(signature_policy(oci_registry.host, key, failOpen=True))
    answer = client.post(
        "/validate", json=pod_review(f"{oci_registry.host}/{REPO}@sha256:{'ef' * 32}")
    ).json()
    assert answer["response"]["allowed"] is True
    assert "failOpen" in answer["response"]["warnings"][0]


def start_token_service(expected_authorization: str) -> tuple[HTTPServer, list[str]]:
    """A registry token service (the `realm` of a Bearer challenge) that checks a basic login."""
    seen: list[str] = []

    class TokenService(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.headers.get("Authorization", "") != expected_authorization:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"token": "test-token", "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), TokenService)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, seen


def test_bearer_token_auth_from_dockerconfigjson(tmp_path: Path, start_webhook):
    """docker-registry with token auth ("silly": any bearer token passes, but one is required):
    the webhook must follow the challenge to the token service with the dockerconfigjson login."""
    tokens, seen = start_token_service("Basic " + base64.b64encode(b"robot:s3cret").decode())
    registry = LocalRegistry(
        oci_registry_binary(),
        tmp_path,
        auth={"silly": {"realm": f"http://127.0.0.1:{tokens.server_address[1]}/token", "service": "test"}},
    )
    registry.start()
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        pusher = oci.OciPusher(registry.url)
        pusher.client.headers["Authorization"] = "Bearer pusher"
        digest, _ = pusher.image(REPO, "auth")
        oci.sign_sig_tag(pusher, REPO, f"{registry.host}/{REPO}", digest, key)
        pusher.close()
        image = f"{registry.host}/{REPO}@{digest}"

        auth = tmp_path / "config.json"
        auth.write_text(
            json.dumps({"auths": {registry.host: {"auth": base64.b64encode(b"robot:s3cret").decode()}}})
        )
        _, client = start_webhook(signature_policy(registry.host, key), registry_auth=auth)
        assert client.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True
        assert any("scope=repository%3Aglm-tts%2Fserver%3Apull" in path for path in seen)

        _, anonymous = start_webhook(signature_policy(registry.host, key, cacheTTLSeconds=0))
        answer = anonymous.post("/validate", json=pod_review(image)).json()["response"]
        assert answer["allowed"] is False and "token service refused" in answer["status"]["message"]

        # A rotated pull Secret: wrong password first, then the file is updated in place.
        rotating = tmp_path / "rotating.json"
        rotating.write_text(json.dumps({"auths": {registry.host: {"username": "robot", "password": "old"}}}))
        _, rotated = start_webhook(
            signature_policy(registry.host, key, cacheTTLSeconds=0), registry_auth=rotating
        )
        assert rotated.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is False
        rotating.write_text(
            json.dumps({"auths": {registry.host: {"username": "robot", "password": "s3cret"}}})
        )
        os.utime(rotating, ns=(1, time.time_ns() + 10**9))
        assert rotated.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True
    finally:
        registry.stop()
        tokens.shutdown()
        tokens.server_close()


def start_referrers_gateway(
    upstream: str, tamper_blobs: bool = False
) -> tuple[ThreadingHTTPServer, list[str]]:
    """Debian's docker-registry (distribution 2.8) predates the OCI 1.1 referrers API. This gateway
    adds that one endpoint in front of it (answering from the registry's own referrers-tag index,
    as distribution 3 / zot / Harbor answer from their storage) and relays everything else, so the
    client's API path is exercised against real registry content. With `tamper_blobs` it plays a
    compromised registry or proxy that alters blob bytes in transit."""
    seen: list[str] = []
    referrers = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
    upstream_client = httpx.Client(base_url=upstream, timeout=5)

    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)
            match = referrers.match(self.path.split("?", 1)[0])
            if match:
                tag = match["digest"].replace(":", "-")
                index = upstream_client.get(
                    f"/v2/{match['name']}/manifests/{tag}", headers={"Accept": oci.OCI_INDEX}
                )
                body = (
                    index.content
                    if index.status_code == 200
                    else oci.canonical({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []})
                )
                self._answer(200, body, {"Content-Type": oci.OCI_INDEX})
                return
            relayed = upstream_client.get(self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
            keep = {
                k: v
                for k, v in relayed.headers.items()
                if k.lower() in ("content-type", "docker-content-digest")
            }
            content = relayed.content
            if tamper_blobs and "/blobs/" in self.path:
                content = content.replace(
                    b"cosign container image signature", b"cosign container image signaturE"
                )
            self._answer(relayed.status_code, content, keep)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    server.daemon_threads = True
    server.upstream_client = upstream_client  # closed with the gateway
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, seen


def test_referrers_api_is_used_when_the_registry_offers_it(signed, start_webhook):
    gateway, seen = start_referrers_gateway(signed.registry.url)
    try:
        host = f"127.0.0.1:{gateway.server_address[1]}"
        _, client = start_webhook(signature_policy(host, signed.key))
        digest = signed.digests["bundle-dsse"]
        image = f"{host}/glm-tts/bundle-dsse@{digest}"
        assert client.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True
        tag = digest.replace(":", "-")
        assert f"/v2/glm-tts/bundle-dsse/referrers/{digest}" in seen
        assert f"/v2/glm-tts/bundle-dsse/manifests/{tag}" not in seen  # no fallback to the tag schema
    finally:
        gateway.shutdown()
        gateway.server_close()
        gateway.upstream_client.close()


def test_https_registry_trusted_through_the_system_ca_store(
    tmp_path, test_ca, ca_context, start_webhook, monkeypatch
):
    """The default (non-insecure) path: HTTPS to the registry, its CA trusted via SSL_CERT_FILE as
    an operator would add a private CA. An untrusted certificate denies even with failOpen."""
    cert, key_file = tmp_path / "registry.crt", tmp_path / "registry.key"
    test_ca.issue(cert, key_file)
    workdir = tmp_path / "registry"
    workdir.mkdir()
    registry = LocalRegistry(oci_registry_binary(), workdir, tls=(cert, key_file))
    registry.start()
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        pusher = oci.OciPusher(registry.url, verify=ca_context)
        digest, _ = pusher.image(REPO, "tls")
        oci.sign_sig_tag(pusher, REPO, f"{registry.host}/{REPO}", digest, key)
        pusher.close()
        image = f"{registry.host}/{REPO}@{digest}"
        secure = signature_policy(registry.host, key, failOpen=True, insecureRegistries=[])

        _, untrusting = start_webhook(secure)
        answer = untrusting.post("/validate", json=pod_review(image)).json()["response"]
        assert answer["allowed"] is False and "certificate not trusted" in answer["status"]["message"]

        ca_file = tmp_path / "ca.pem"
        ca_file.write_bytes(test_ca.pem())
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        _, trusting = start_webhook(secure)
        assert trusting.post("/validate", json=pod_review(image)).json()["response"]["allowed"] is True
    finally:
        registry.stop()


def test_stop_lets_reviews_in_progress_answer(start_webhook):
    """SIGTERM during a review (here: waiting on a silent registry) still answers the API server."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        server, client = start_webhook(
            signature_policy(host, ec.generate_private_key(ec.SECP256R1()), timeoutSeconds=1)
        )
        answers = []
        review = threading.Thread(
            target=lambda: answers.append(
                client.post("/validate", json=pod_review(f"{host}/{REPO}@sha256:{'12' * 32}"))
            )
        )
        review.start()
        deadline = time.monotonic() + 5
        while server.in_flight.wait_idle(0) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the review is in progress
        assert not server.in_flight.wait_idle(0), "the review never started"
        server.stop()
        assert server.in_flight.wait_idle(0), "stop() returned before the review was answered"
        review.join(5)
    assert answers and answers[0].status_code == 200
    assert answers[0].headers["connection"] == "close"
    assert answers[0].json()["response"]["allowed"] is False


def test_blob_altered_in_transit_is_refused(signed, start_webhook):
    gateway, seen = start_referrers_gateway(signed.registry.url, tamper_blobs=True)
    try:
        host = f"127.0.0.1:{gateway.server_address[1]}"
        _, client = start_webhook(signature_policy(host, signed.key))
        image = f"{host}/{REPO}@{signed.digests['signed']}"
        answer = client.post("/validate", json=pod_review(image)).json()["response"]
        assert any("/blobs/" in path for path in seen)
        assert answer["allowed"] is False and "has content digest" in answer["status"]["message"]
    finally:
        gateway.shutdown()
        gateway.server_close()
        gateway.upstream_client.close()


def test_ephemeral_container_subresource_update_is_checked(start_webhook):
    """`kubectl debug` adds an ephemeral container with UPDATE on pods/ephemeralcontainers."""
    _, client = start_webhook(POLICIES["enforce"])
    case = {
        "api": "AdmissionReview",
        "kind": "Pod",
        "namespace": "glm-tts",
        "images": {
            "containers": [f"registry.example.com/glm-tts/server@sha256:{'1' * 64}"],
            "ephemeralContainers": ["busybox:latest"],
        },
    }
    review = json.loads(request_body(case))
    review["request"].update(operation="UPDATE", subResource="ephemeralcontainers")
    answer = client.post("/validate", json=review).json()["response"]
    assert answer["allowed"] is False
    assert "ephemeral container 'ephemeralcontainer-0'" in answer["status"]["message"]
