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
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from glm_tts_hooks.image_policy.policy import PublicKey
from glm_tts_hooks.image_policy.reference import parse_reference
from glm_tts_hooks.image_policy.registry import (
    Deadline,
    Manifest,
    NotFound,
    RegistryError,
    RegistryUnavailable,
)
from glm_tts_hooks.image_policy.signatures import (
    SignatureInvalid,
    SignatureVerdict,
    SignatureVerifier,
    dsse_pae,
    verify_bundle,
    verify_simple_signing,
)

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
        # Several signatures on one image: another key's first, then the trusted one.
        repo, digest, _ = image("sig-several")
        push_sig_layers(pusher, repo, digest, [(other, oci.SIMPLE_SIGNING), (key, oci.SIMPLE_SIGNING)])
        # A validly signed layer of a media type cosign does not write is not a signature.
        repo, digest, _ = image("sig-unknown-media")
        push_sig_layers(pusher, repo, digest, [(key, "application/vnd.example.unknown+json")])


def push_sig_layers(pusher: oci.OciPusher, repo: str, digest: str, layers: list) -> None:
    """A cosign 1/2 `.sig` manifest with one signed simple-signing payload per (key, media type)."""
    payload = oci.simple_signing_payload(repo, digest)
    descriptors = []
    for key, media_type in layers:
        layer = pusher.blob(repo, payload, media_type)
        signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
        descriptors.append({**layer, "annotations": {oci.SIGNATURE_ANNOTATION: signature}})
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": pusher.blob(repo, b"{}", oci.OCI_CONFIG),
        "layers": descriptors,
    }
    pusher.manifest(repo, digest.replace(":", "-") + ".sig", oci.canonical(manifest), oci.OCI_MANIFEST)


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
    ("sig-several", True, "sig-tag"),
    ("sig-unknown-media", False, "no cosign signature found"),
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


def test_tag_only_image_is_refused_without_a_registry_call(signed, start_webhook):
    policy = {**signature_policy(signed.registry.host, signed.key), "requireDigest": False}
    _, client = start_webhook(policy)
    image = f"{signed.registry.host}/{REPO}:1.0"  # the tag exists and its digest is signed
    answer = client.post("/validate", json=pod_review(image)).json()["response"]
    assert answer["allowed"] is False
    message = answer["status"]["message"]
    assert f"image {image!r} has no digest, so its signature cannot be checked" in message
    assert f"pin by digest: {image}@sha256:<digest>" in message
    assert "glm_tts_image_policy_signature_cache_total{" not in client.get("/metrics").text


def test_key_rotation_is_not_answered_from_verdicts_cached_for_the_old_keys(signed, start_webhook, tmp_path):
    """The pipeline's key is rotated (the policy file changes in place): an image signed by the new
    key is admitted at once, and one signed only by the retired key is refused at once, although
    verdicts for both were cached under the old key set."""
    ci = {"name": "ci", "pem": public_pem(signed.key)}
    next_key = {"name": "next", "pem": public_pem(signed.other_key)}
    old_only = signature_policy(signed.registry.host, signed.key, cacheTTLSeconds=300)
    server, client = start_webhook(old_only)
    policy_file = Path(server.policies.path)
    by_old, by_new = signed.ref("signed"), signed.ref("sig-wrong-key")  # sig-wrong-key: signed by next

    def allowed(image: str) -> tuple[bool, str]:
        answer = client.post("/validate", json=pod_review(image)).json()["response"]
        return answer["allowed"], answer.get("status", {}).get("message", "")

    def rotate(*keys: dict) -> None:
        policy = signature_policy(signed.registry.host, signed.key, cacheTTLSeconds=300)
        policy["signatures"]["publicKeys"] = list(keys)
        policy_file.write_text(yaml.safe_dump(policy))
        os.utime(policy_file, ns=(1, time.time_ns() + 10**9))

    assert allowed(by_old)[0] is True and allowed(by_new)[0] is False
    rotate(ci, next_key)  # overlap: both keys trusted
    assert allowed(by_old)[0] is True and allowed(by_new)[0] is True
    rotate(next_key)  # the old key retired
    still, message = allowed(by_old)
    assert still is False and "does not verify with the trusted key(s) next" in message
    assert allowed(by_new)[0] is True


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


# --- the verifier on its own: payloads, bundles and layouts, without a webhook --------------------
#
# Signatures are made here with keys of the test (rotation: "old" and "new"; "stranger" is trusted
# by nobody); the registry content the verifier reads is served from memory, so a layout a real
# registry would refuse to store (a layer that is not an object, a descriptor without a digest) can
# be served as a compromised registry would.

CI_KEY, OLD_KEY, NEW_KEY, STRANGER_KEY = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
CI, OLD, NEW = (
    PublicKey.of(n, k.public_key()) for n, k in (("ci", CI_KEY), ("old", OLD_KEY), ("new", NEW_KEY))
)
IMAGE = "sha256:" + "ab" * 32
ELSEWHERE = "sha256:" + "cd" * 32
SIG_TAG = "sha256-" + "ab" * 32 + ".sig"
INTOTO = "application/vnd.in-toto+json"
UNKNOWN_MEDIA = "application/vnd.example.unknown+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return b64(key.sign(data, ec.ECDSA(hashes.SHA256())))


def payload_doc(digest=IMAGE, kind="cosign container image signature") -> dict:
    return {
        "critical": {
            "identity": {"docker-reference": "registry.example.com/glm-tts/server"},
            "image": {"docker-manifest-digest": digest},
            "type": kind,
        },
        "optional": None,
    }


def as_bytes(doc) -> bytes:
    return doc if isinstance(doc, bytes) else json.dumps(doc).encode()


def statement(subject=None, predicate=oci.COSIGN_SIGN_PREDICATE, kind="https://in-toto.io/Statement/v1"):
    subject = [{"name": "glm-tts/server", "digest": {"sha256": "ab" * 32}}] if subject is None else subject
    return {"_type": kind, "subject": subject, "predicateType": predicate, "predicate": {}}


def dsse_sig(key: ec.EllipticCurvePrivateKey, payload: bytes, payload_type: str = INTOTO) -> dict:
    return {"sig": sign(key, oci.dsse_pae(payload_type, payload)), "keyid": ""}


def bundle(doc=None, signers=(CI_KEY,), **envelope) -> dict:
    """A cosign 3 bundle around `doc` (a statement), signed by `signers`; `envelope` overrides fields
    of the DSSE envelope (`...` leaves one out)."""
    payload = as_bytes(statement() if doc is None else doc)
    fields = {
        "payload": b64(payload),
        "payloadType": INTOTO,
        "signatures": [dsse_sig(k, payload) for k in signers],
        **envelope,
    }
    return {"mediaType": oci.BUNDLE, "dsseEnvelope": {k: v for k, v in fields.items() if v is not ...}}


def refused(check) -> str:
    with pytest.raises(SignatureInvalid) as raised:
        check()
    return str(raised.value)


def test_dsse_pae_is_the_dsse_v1_encoding():
    assert dsse_pae(INTOTO, b'{"a":1}') == b'DSSEv1 28 application/vnd.in-toto+json 7 {"a":1}'
    assert dsse_pae("tÿpe", b"") == b"DSSEv1 5 t\xc3\xbfpe 0 "  # the type's length in UTF-8 bytes


def test_simple_signing_accepts_every_trusted_key_and_names_the_signer():
    payload = as_bytes(payload_doc())
    assert verify_simple_signing(payload, sign(OLD_KEY, payload), IMAGE, (OLD, NEW)) == "old"
    assert verify_simple_signing(payload, sign(NEW_KEY, payload), IMAGE, (OLD, NEW)) == "new"
    assert verify_simple_signing(payload, sign(NEW_KEY, payload), IMAGE, (NEW, OLD)) == "new"
    # After the rotation only the new key is trusted: the old signature no longer counts.
    assert refused(lambda: verify_simple_signing(payload, sign(OLD_KEY, payload), IMAGE, (NEW,))) == (
        "signature does not verify with the trusted key(s) new"
    )


def test_simple_signing_digests_compare_case_insensitively():
    upper = as_bytes(payload_doc("sha256:" + "AB" * 32))
    assert verify_simple_signing(upper, sign(CI_KEY, upper), IMAGE, (CI,)) == "ci"
    payload = as_bytes(payload_doc())
    assert verify_simple_signing(payload, sign(CI_KEY, payload), "sha256:" + "AB" * 32, (CI,)) == "ci"


def test_signatures_may_use_the_url_safe_alphabet_without_padding():
    payload = as_bytes(payload_doc())
    for _ in range(200):  # ECDSA signatures are random: find one whose base64 has +, / and padding
        raw = CI_KEY.sign(payload, ec.ECDSA(hashes.SHA256()))
        standard = b64(raw)
        if "+" in standard and "/" in standard and standard.endswith("="):
            break
    else:
        pytest.fail("no signature with +, / and padding in its base64")
    url_safe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert verify_simple_signing(payload, standard, IMAGE, (CI,)) == "ci"
    assert verify_simple_signing(payload, url_safe, IMAGE, (CI,)) == "ci"


ANNOTATION = "annotation dev.cosignproject.cosign/signature"
LACKS = "simple-signing payload lacks critical.type / critical.image"
SIMPLE_SIGNING_REFUSALS = [
    pytest.param(payload_doc(), "", f"{ANNOTATION} is missing", id="signature-empty"),
    pytest.param(payload_doc(), None, f"{ANNOTATION} is missing", id="signature-null"),
    pytest.param(payload_doc(), 7, f"{ANNOTATION} is missing", id="signature-number"),
    pytest.param(payload_doc(), "***", f"{ANNOTATION} is not base64", id="signature-not-base64"),
    pytest.param(payload_doc(), "abcde", f"{ANNOTATION} is not base64", id="signature-truncated"),
    pytest.param(payload_doc(), STRANGER_KEY, "signature does not verify with the trusted key(s) ci, old",
                 id="stranger"),
    pytest.param(payload_doc(), "tamper", "signature does not verify with the trusted key(s) ci, old",
                 id="payload-changed-after-signing"),
    pytest.param(b"not json", CI_KEY, LACKS, id="not-json"),
    pytest.param([1], CI_KEY, LACKS, id="json-list"),
    pytest.param({"optional": {}}, CI_KEY, LACKS, id="no-critical"),
    pytest.param({"critical": "x"}, CI_KEY, LACKS, id="critical-not-object"),
    pytest.param({"critical": {"image": {"docker-manifest-digest": IMAGE}}}, CI_KEY, LACKS, id="no-type"),
    pytest.param({"critical": {"type": "cosign container image signature"}}, CI_KEY, LACKS, id="no-image"),
    pytest.param({"critical": {"type": "cosign container image signature", "image": IMAGE}}, CI_KEY, LACKS,
                 id="image-not-object"),
    pytest.param(payload_doc(kind="cosign container image attestation"), CI_KEY,
                 "payload type is 'cosign container image attestation', "
                 "not 'cosign container image signature'",
                 id="other-type"),
    pytest.param(payload_doc(ELSEWHERE), CI_KEY, f"payload signs {ELSEWHERE}, not the image digest {IMAGE}",
                 id="other-digest"),
    pytest.param(payload_doc(5), CI_KEY, f"payload signs 5, not the image digest {IMAGE}",
                 id="digest-number"),
    pytest.param(payload_doc(None), CI_KEY, f"payload signs None, not the image digest {IMAGE}",
                 id="digest-null"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "signature", "message"), SIMPLE_SIGNING_REFUSALS)
def test_simple_signing_refusals(doc, signature, message):
    payload = as_bytes(doc)
    if isinstance(signature, ec.EllipticCurvePrivateKey):
        signature = sign(signature, payload)
    elif signature == "tamper":
        signature, payload = sign(CI_KEY, payload), payload + b" "
    assert refused(lambda: verify_simple_signing(payload, signature, IMAGE, (CI, OLD))) == message


def test_bundle_verifies_and_names_the_signer():
    assert verify_bundle(as_bytes(bundle()), IMAGE, (CI,)) == "ci"
    # An in-toto v0.1 statement, several subjects and upper-case hex are all cosign's own output.
    subjects = [{"digest": {"sha256": "cd" * 32}}, "x", {"digest": "ab"}, {"digest": {"sha256": "AB" * 32}}]
    doc = statement(subjects, kind="https://in-toto.io/Statement/v0.1")
    assert verify_bundle(as_bytes(bundle(doc)), "sha256:" + "ab" * 32, (CI,)) == "ci"
    assert verify_bundle(as_bytes(bundle()), "sha256:" + "AB" * 32, (CI,)) == "ci"


def test_bundle_with_several_signatures_and_a_key_rotation():
    both = as_bytes(bundle(signers=(OLD_KEY, NEW_KEY)))
    assert verify_bundle(both, IMAGE, (OLD, NEW)) == "old"  # the first signature that verifies
    assert verify_bundle(both, IMAGE, (NEW,)) == "new"
    assert verify_bundle(as_bytes(bundle(signers=(NEW_KEY, OLD_KEY))), IMAGE, (OLD, NEW)) == "new"
    assert refused(lambda: verify_bundle(both, IMAGE, (CI,))) == NOT_VERIFIED  # each reason once
    # Entries that are not signatures are skipped, not fatal.
    payload = as_bytes(statement())
    entries = ["x", {"sig": "***"}, {}, {"sig": sign(STRANGER_KEY, payload)}, dsse_sig(CI_KEY, payload)]
    assert verify_bundle(as_bytes(bundle(signatures=entries)), IMAGE, (CI,)) == "ci"


def test_bundle_looks_at_the_first_32_signatures_only():
    payload = as_bytes(statement())
    strangers = [dsse_sig(STRANGER_KEY, payload)] * 31
    good = dsse_sig(CI_KEY, payload)
    assert verify_bundle(as_bytes(bundle(signatures=[*strangers, good])), IMAGE, (CI,)) == "ci"
    too_late = as_bytes(bundle(signatures=[*strangers, strangers[0], good]))
    assert refused(lambda: verify_bundle(too_late, IMAGE, (CI,))) == NOT_VERIFIED


def not_a_digest(digest: str) -> str:
    return f"image digest {digest!r} is not sha256:<64 hex digits>"


IMAGE_DIGESTS = [
    pytest.param("sha512:" + "ab" * 64, "only sha256 image digests can be verified, not sha512", id="sha512"),
    pytest.param("sha256:x:" + "ab" * 32, not_a_digest("sha256:x:" + "ab" * 32), id="two-colons"),
    pytest.param("sha256:", not_a_digest("sha256:"), id="empty"),
    pytest.param("sha256:" + "ab" * 31, not_a_digest("sha256:" + "ab" * 31), id="short"),
    pytest.param("sha256:" + "ab" * 33, not_a_digest("sha256:" + "ab" * 33), id="long"),
    pytest.param("sha256:" + "zz" * 32, not_a_digest("sha256:" + "zz" * 32), id="not-hex"),
]


@pytest.mark.parametrize(("digest", "message"), IMAGE_DIGESTS)
def test_bundle_for_a_digest_that_is_not_sha256_is_refused(digest, message):
    # An empty digest must not match a statement subject that has no sha256 digest at all.
    doc = bundle(statement([{"name": "glm-tts/server", "digest": {}}]))
    assert refused(lambda: verify_bundle(as_bytes(doc), digest, (CI,))) == message


def test_dsse_wins_over_a_message_signature_in_the_same_bundle():
    doc = {**bundle(), "messageSignature": {"signature": "x"}}
    assert verify_bundle(as_bytes(doc), IMAGE, (CI,)) == "ci"


NOT_BUNDLE = f"bundle mediaType is not {oci.BUNDLE}"
NO_SIGNATURES = "DSSE envelope has no signatures"
NOT_VERIFIED = "DSSE envelope has no valid signature: signature does not verify with the trusted key(s) ci"
NOT_STATEMENT = "DSSE payload is not an in-toto statement"
NOT_SUBJECT = f"statement subject is not the image digest {IMAGE}"
BUNDLE_REFUSALS = [
    pytest.param(b"{", "bundle is not JSON", id="not-json"),
    pytest.param([], NOT_BUNDLE, id="json-list"),
    pytest.param({"dsseEnvelope": {}}, NOT_BUNDLE, id="no-media-type"),
    pytest.param({**bundle(), "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2"},
                 NOT_BUNDLE,
                 id="bundle-v0.2"),
    pytest.param({"mediaType": oci.BUNDLE}, "bundle has no dsseEnvelope", id="empty"),
    pytest.param({"mediaType": oci.BUNDLE, "dsseEnvelope": "x", "messageSignature": "y"},
                 "bundle has no dsseEnvelope", id="envelope-not-object"),
    pytest.param({"mediaType": oci.BUNDLE, "messageSignature": {"signature": "x"}},
                 "bundle carries a messageSignature (a signed blob), not a DSSE image signature",
                 id="message-signature"),
    pytest.param(bundle(payloadType="application/json"),
                 f"DSSE payloadType is 'application/json', not {INTOTO}", id="payload-type"),
    pytest.param(bundle(payloadType=...), f"DSSE payloadType is None, not {INTOTO}", id="no-payload-type"),
    pytest.param(bundle(payload=...), "DSSE payload is missing", id="no-payload"),
    pytest.param(bundle(payload="%%%"), "DSSE payload is not base64", id="payload-not-base64"),
    pytest.param(bundle(signatures=...), NO_SIGNATURES, id="no-signatures"),
    pytest.param(bundle(signatures=[]), NO_SIGNATURES, id="signatures-empty"),
    pytest.param(bundle(signatures={"sig": "x"}), NO_SIGNATURES, id="signatures-not-list"),
    pytest.param(bundle(signers=(STRANGER_KEY,)), NOT_VERIFIED, id="stranger"),
    pytest.param(bundle(signatures=["x", {}, {"sig": "***"}, {"sig": 5}]),
                 "DSSE envelope has no valid signature: DSSE sig is missing; DSSE sig is not base64",
                 id="no-signature-entries"),
    pytest.param(bundle(payload=b64(as_bytes(statement()) + b" ")), NOT_VERIFIED, id="payload-changed"),
    pytest.param(bundle(b"not json"), NOT_STATEMENT, id="statement-not-json"),
    pytest.param(bundle([]), NOT_STATEMENT, id="statement-list"),
    pytest.param(bundle({k: v for k, v in statement().items() if k != "_type"}), NOT_STATEMENT,
                 id="no-_type"),
    pytest.param(bundle({k: v for k, v in statement().items() if k != "predicateType"}), NOT_STATEMENT,
                 id="no-predicateType"),
    pytest.param(bundle({k: v for k, v in statement().items() if k != "subject"}), NOT_STATEMENT,
                 id="no-subject"),
    pytest.param(bundle(statement(kind="https://in-toto.io/Statement/v2")),
                 "statement _type 'https://in-toto.io/Statement/v2' is not in-toto", id="other-_type"),
    pytest.param(bundle(statement(predicate="https://cyclonedx.org/bom")),
                 "statement is a 'https://cyclonedx.org/bom' attestation, not a cosign signature",
                 id="attestation"),
    pytest.param(bundle(statement([{"digest": {"sha256": "cd" * 32}}])), NOT_SUBJECT, id="other-subject"),
    pytest.param(bundle(statement({"digest": {"sha256": "ab" * 32}})), NOT_SUBJECT, id="subject-not-list"),
    pytest.param(bundle(statement(["x", {"digest": IMAGE}, {"digest": {"sha512": "ab" * 32}}])),
                 NOT_SUBJECT, id="subjects-without-sha256"),
    pytest.param(bundle(statement([])), NOT_SUBJECT, id="no-subjects"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "message"), BUNDLE_REFUSALS)
def test_bundle_refusals(doc, message):
    assert refused(lambda: verify_bundle(as_bytes(doc), IMAGE, (CI,))) == message


class MemoryRegistry:
    """Serves the verifier's three registry calls from memory and records them. A stored exception
    is raised instead of answering (a registry that denies access, or is down)."""

    def __init__(self) -> None:
        self.content: dict[str, bytes | Exception] = {}  # manifest references and blob digests
        self.referrer_lists: dict[str, list | Exception] = {}
        self.calls: list[tuple[str, str]] = []

    def _get(self, kind: str, registry: str, repository: str, reference: str):
        assert (registry, repository) == ("registry.example.com", "glm-tts/server")
        self.calls.append((kind, reference))
        found = self.content.get(reference)
        if found is None:
            raise NotFound(f"{registry}/{repository}: {reference} not found")
        if isinstance(found, Exception):
            raise found
        return found

    def manifest(self, registry, repository, reference, deadline) -> Manifest:
        return Manifest(self._get("manifest", registry, repository, reference), oci.OCI_MANIFEST, reference)

    def blob(self, registry, repository, digest, deadline) -> bytes:
        return self._get("blob", registry, repository, digest)

    def referrers(self, registry, repository, digest, deadline) -> list:
        self.calls.append(("referrers", digest))
        found = self.referrer_lists.get(digest, [])
        if isinstance(found, Exception):
            raise found
        return found

    def put(self, data) -> str:
        data = as_bytes(data)
        self.content[oci.sha256(data)] = data
        return oci.sha256(data)

    def sig_tag(self, *layers) -> None:
        """The cosign 1/2 `.sig` manifest of IMAGE with these layers."""
        self.content[SIG_TAG] = as_bytes({"schemaVersion": 2, "layers": list(layers)})

    def referrer(self, bundle_doc, subject=IMAGE, artifact_type=oci.BUNDLE, layer_type=oci.BUNDLE) -> str:
        """A cosign 3 referrer of IMAGE holding `bundle_doc`; returns the referrer manifest's digest."""
        layer = {"mediaType": layer_type, "digest": self.put(bundle_doc)}
        manifest = {"artifactType": artifact_type, "layers": [layer], "subject": {"digest": subject}}
        digest = self.put(manifest)
        self.referrer_lists.setdefault(IMAGE, []).append({"artifactType": artifact_type, "digest": digest})
        return digest


def signed_layer(
    registry: MemoryRegistry, key=CI_KEY, doc=None, media_type=oci.SIMPLE_SIGNING, **extra
) -> dict:
    payload = as_bytes(payload_doc() if doc is None else doc)
    layer = {"mediaType": media_type, "digest": registry.put(payload)}
    layer["annotations"] = {oci.SIGNATURE_ANNOTATION: sign(key, payload)}
    return {**layer, **extra}


PINNED = parse_reference(f"registry.example.com/glm-tts/server@{IMAGE}")


def verdict_of(registry: MemoryRegistry, keys=(CI,), ref=PINNED) -> SignatureVerdict:
    return SignatureVerifier(registry).verify(ref, keys, Deadline(2))


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/glm-tts/server:1.0",
        "registry.example.com/glm-tts/server",
        "registry.example.com/glm-tts/server@sha512:" + "ab" * 64,
    ],
    ids=["tag", "no-tag", "sha512"],
)
def test_an_image_not_pinned_by_sha256_is_not_looked_up(image):
    registry = MemoryRegistry()
    registry.sig_tag(signed_layer(registry))
    assert verdict_of(registry, ref=parse_reference(image)) == SignatureVerdict(
        False, "only an image pinned by sha256 digest can have its signature checked"
    )
    assert registry.calls == []


def test_sig_tag_signature_is_found_first():
    registry = MemoryRegistry()
    registry.sig_tag(signed_layer(registry))
    registry.referrer(bundle())
    assert verdict_of(registry) == SignatureVerdict(True, "signed with key 'ci' (sig-tag)", "ci", "sig-tag")
    assert [kind for kind, _ in registry.calls] == ["manifest", "blob"]  # no referrers lookup


def test_referrer_bundle_is_looked_up_when_there_is_no_sig_tag():
    registry = MemoryRegistry()
    signed_bundle = bundle()
    referrer = registry.referrer(signed_bundle)
    assert verdict_of(registry) == SignatureVerdict(
        True, "signed with key 'ci' (referrer-bundle)", "ci", "referrer-bundle"
    )
    assert registry.calls == [
        ("manifest", SIG_TAG),
        ("referrers", IMAGE),
        ("manifest", referrer),
        ("blob", oci.sha256(as_bytes(signed_bundle))),
    ]


def test_key_rotation_both_layouts():
    registry = MemoryRegistry()
    registry.sig_tag(signed_layer(registry, OLD_KEY))
    registry.referrer(bundle(signers=(NEW_KEY,)))
    assert verdict_of(registry, (OLD, NEW)).key_name == "old"
    assert verdict_of(registry, (NEW,)) == SignatureVerdict(
        True, "signed with key 'new' (referrer-bundle)", "new", "referrer-bundle"
    )
    assert verdict_of(registry, (CI,)) == SignatureVerdict(
        False,
        f"{SIG_TAG}: signature does not verify with the trusted key(s) ci; "
        f"bundle {registry.referrer_lists[IMAGE][0]['digest'][:19]}: {NOT_VERIFIED}",
    )


def test_several_signatures_in_the_sig_tag():
    registry = MemoryRegistry()
    stranger, other_image = (
        signed_layer(registry, STRANGER_KEY),
        signed_layer(registry, doc=payload_doc(ELSEWHERE)),
    )
    registry.sig_tag(stranger, other_image, signed_layer(registry, NEW_KEY))
    assert verdict_of(registry, (OLD, NEW)) == SignatureVerdict(
        True, "signed with key 'new' (sig-tag)", "new", "sig-tag"
    )
    registry.sig_tag(stranger, other_image, stranger)
    assert verdict_of(registry, (CI,)) == SignatureVerdict(
        False,  # each problem once, in the order found
        f"{SIG_TAG}: signature does not verify with the trusted key(s) ci; "
        f"{SIG_TAG}: payload signs {ELSEWHERE}, not the image digest {IMAGE}",
    )


def test_sig_tag_layers_that_are_not_signatures_do_not_end_the_search():
    registry = MemoryRegistry()
    unknown, unannotated = (
        signed_layer(registry, media_type=UNKNOWN_MEDIA),
        signed_layer(registry, annotations={}),
    )
    registry.sig_tag("x", unknown, unannotated, signed_layer(registry, NEW_KEY))
    assert verdict_of(registry, (NEW,)) == SignatureVerdict(
        True, "signed with key 'new' (sig-tag)", "new", "sig-tag"
    )


def test_sig_tag_looks_at_the_first_32_layers_only():
    registry = MemoryRegistry()
    stranger = signed_layer(registry, STRANGER_KEY)
    registry.sig_tag(*[stranger] * 31, signed_layer(registry))
    assert verdict_of(registry).verified is True
    registry.sig_tag(*[stranger] * 32, signed_layer(registry))
    assert verdict_of(registry) == SignatureVerdict(
        False, f"{SIG_TAG}: signature does not verify with the trusted key(s) ci"
    )


NO_SIGNATURE = "no cosign signature found in the registry"
WITHOUT_ANNOTATION = f"{SIG_TAG}: layer without dev.cosignproject.cosign/signature"
SIG_TAG_LAYOUTS = [
    pytest.param(lambda r: None, NO_SIGNATURE, id="no-sig-tag"),
    pytest.param(lambda r: r.sig_tag(), f"{SIG_TAG}: no signature layers", id="no-layers"),
    pytest.param(lambda r: r.content.update({SIG_TAG: b'{"layers": null}'}),
                 f"{SIG_TAG}: no signature layers",
                 id="layers-null"),
    pytest.param(lambda r: r.content.update({SIG_TAG: b"{}"}), f"{SIG_TAG}: no signature layers",
                 id="layers-absent"),
    pytest.param(lambda r: r.content.update({SIG_TAG: b'{"layers": 5}'}),
                 f"{SIG_TAG}: no signature layers", id="layers-number"),
    pytest.param(lambda r: r.content.update({SIG_TAG: as_bytes({"layers": {"0": signed_layer(r)}})}),
                 f"{SIG_TAG}: no signature layers", id="layers-object"),
    pytest.param(lambda r: r.sig_tag(signed_layer(r, annotations=[oci.SIGNATURE_ANNOTATION])),
                 WITHOUT_ANNOTATION, id="annotations-list"),
    pytest.param(lambda r: r.sig_tag(signed_layer(r, annotations=oci.SIGNATURE_ANNOTATION)),
                 WITHOUT_ANNOTATION, id="annotations-string"),
    pytest.param(lambda r: r.sig_tag("x", signed_layer(r, media_type=UNKNOWN_MEDIA)), NO_SIGNATURE,
                 id="unknown-media-types-only"),
    pytest.param(lambda r: r.sig_tag(signed_layer(r, annotations=None)), WITHOUT_ANNOTATION,
                 id="annotations-null"),
    pytest.param(lambda r: r.sig_tag(signed_layer(r, annotations={"org.example/other": "x"})),
                 WITHOUT_ANNOTATION, id="other-annotation"),
    pytest.param(lambda r: r.sig_tag(signed_layer(r, digest=None)), WITHOUT_ANNOTATION, id="no-layer-digest"),
    pytest.param(lambda r: r.content.update({SIG_TAG: b"[]"}),
                 f"manifest {SIG_TAG} is not a JSON object", id="manifest-not-object"),
    pytest.param(lambda r: r.content.update({SIG_TAG: RegistryError("access to glm-tts/server denied")}),
                 "access to glm-tts/server denied", id="access-denied"),
    pytest.param(lambda r: r.content.update({IMAGE: b""}) or r.sig_tag({
                     "mediaType": oci.SIMPLE_SIGNING, "digest": "sha256:" + "00" * 32,
                     "annotations": {oci.SIGNATURE_ANNOTATION: "x"}}),
                 NO_SIGNATURE, id="signature-blob-gone"),
]  # fmt: skip


@pytest.mark.parametrize(("store", "reason"), SIG_TAG_LAYOUTS)
def test_sig_tag_layouts_that_carry_no_valid_signature(store, reason):
    registry = MemoryRegistry()
    store(registry)
    assert verdict_of(registry) == SignatureVerdict(False, reason)


UNUSABLE_SIG_TAGS = [
    pytest.param(lambda r: r.content.update({SIG_TAG: RegistryError("access denied")}), id="denied"),
    pytest.param(lambda r: r.content.update({SIG_TAG: b'{"layers": 5}'}), id="layers-number"),
    pytest.param(lambda r: r.sig_tag(signed_layer(r, annotations=[oci.SIGNATURE_ANNOTATION])),
                 id="annotations-list"),
]  # fmt: skip


@pytest.mark.parametrize("store", UNUSABLE_SIG_TAGS)
def test_an_unusable_sig_tag_still_lets_a_bundle_verify(store):
    registry = MemoryRegistry()
    store(registry)
    registry.referrer(bundle())
    assert verdict_of(registry).layout == "referrer-bundle"


@pytest.mark.parametrize("where", ["sig-tag", "referrers"])
def test_an_unreachable_registry_is_not_a_verdict(where):
    registry = MemoryRegistry()
    down = RegistryUnavailable("registry.example.com: cannot connect")
    if where == "sig-tag":
        registry.content[SIG_TAG] = down
        registry.referrer(bundle())
    else:
        registry.referrer_lists[IMAGE] = down
    with pytest.raises(RegistryUnavailable, match="cannot connect"):
        verdict_of(registry)
    if where == "sig-tag":
        assert [kind for kind, _ in registry.calls] == ["manifest"]  # no fall-through to referrers


def test_several_bundles_and_artifacts_of_other_types():
    registry = MemoryRegistry()
    for n in range(40):  # SBOMs and other artifacts do not count against the 32 signatures
        registry.referrer({"n": n}, artifact_type="application/spdx+json")
    registry.referrer(bundle(signers=(STRANGER_KEY,)))
    registry.referrer(bundle(statement(predicate="https://cyclonedx.org/bom")))
    registry.referrer(bundle(signers=(NEW_KEY,)))
    assert verdict_of(registry, (OLD, NEW)) == SignatureVerdict(
        True, "signed with key 'new' (referrer-bundle)", "new", "referrer-bundle"
    )


def test_referrers_that_are_not_signatures_do_not_end_the_search():
    registry = MemoryRegistry()
    registry.referrer_lists[IMAGE] = [{"artifactType": oci.BUNDLE}]  # no digest
    registry.referrer(bundle(), subject=ELSEWHERE)
    registry.referrer(bundle(), layer_type=UNKNOWN_MEDIA)
    registry.referrer(bundle(signers=(NEW_KEY,)))
    assert verdict_of(registry, (NEW,)) == SignatureVerdict(
        True, "signed with key 'new' (referrer-bundle)", "new", "referrer-bundle"
    )


def test_referrers_look_at_the_first_32_bundles_only():
    registry = MemoryRegistry()
    first = registry.referrer(bundle(signers=(STRANGER_KEY,)))
    registry.referrer_lists[IMAGE] *= 31
    registry.referrer(bundle())
    assert verdict_of(registry).verified is True
    registry.referrer_lists[IMAGE].insert(0, registry.referrer_lists[IMAGE][0])
    assert verdict_of(registry) == SignatureVerdict(False, f"bundle {first[:19]}: {NOT_VERIFIED}")


def test_a_referrer_subject_may_be_written_in_upper_case():
    registry = MemoryRegistry()
    registry.referrer(bundle(), subject="sha256:" + "AB" * 32)
    assert verdict_of(registry).verified is True


def referrer_with(registry: MemoryRegistry, manifest: dict) -> str:
    """The only referrer of IMAGE is `manifest`; returns its digest."""
    digest = registry.put(manifest)
    registry.referrer_lists[IMAGE] = [{"artifactType": oci.BUNDLE, "digest": digest}]
    return digest


def bundle_layer(registry: MemoryRegistry, **extra) -> dict:
    return {"mediaType": oci.BUNDLE, "digest": registry.put(bundle()), **extra}


def descriptors(registry: MemoryRegistry, *entries: dict) -> None:
    registry.referrer_lists[IMAGE] = list(entries)


SUBJECT = {"digest": IMAGE}
REFERRER_LAYOUTS = [
    pytest.param(lambda r: r.referrer(bundle(), artifact_type=UNKNOWN_MEDIA), NO_SIGNATURE,
                 id="other-artifact-type"),
    pytest.param(lambda r: descriptors(r, {"artifactType": oci.BUNDLE}), NO_SIGNATURE,
                 id="descriptor-without-digest"),
    pytest.param(lambda r: descriptors(r, {"artifactType": oci.BUNDLE, "digest": 5}), NO_SIGNATURE,
                 id="descriptor-digest-number"),
    pytest.param(lambda r: descriptors(r, {"artifactType": oci.BUNDLE, "digest": "sha512:" + "ab" * 64}),
                 NO_SIGNATURE, id="descriptor-not-sha256"),
    pytest.param(lambda r: r.referrer(bundle(), subject=ELSEWHERE), "referrer {d}: subject is not the image",
                 id="other-subject"),
    pytest.param(lambda r: referrer_with(r, {"layers": [bundle_layer(r)]}),
                 "referrer {d}: subject is not the image", id="no-subject"),
    pytest.param(lambda r: referrer_with(r, {"layers": [bundle_layer(r)], "subject": IMAGE}),
                 "referrer {d}: subject is not the image", id="subject-not-object"),
    pytest.param(lambda r: r.referrer(bundle(), layer_type=UNKNOWN_MEDIA), "referrer {d}: no bundle layer",
                 id="layer-of-unknown-type"),
    pytest.param(lambda r: referrer_with(r, {"subject": SUBJECT}), "referrer {d}: no bundle layer",
                 id="no-layers"),
    pytest.param(lambda r: referrer_with(r, {"subject": SUBJECT, "layers": None}),
                 "referrer {d}: no bundle layer", id="layers-null"),
    pytest.param(lambda r: referrer_with(r, {"subject": SUBJECT, "layers": 5}),
                 "referrer {d}: no bundle layer", id="layers-number"),
    pytest.param(lambda r: referrer_with(r, {"subject": SUBJECT, "layers": {"0": bundle_layer(r)}}),
                 "referrer {d}: no bundle layer", id="layers-object"),
    pytest.param(lambda r: referrer_with(r, {"subject": SUBJECT,
                                             "layers": [bundle_layer(r, digest=None), bundle_layer(r)]}),
                 "referrer {d}: no bundle layer", id="first-bundle-layer-without-digest"),
    pytest.param(lambda r: r.referrer({"mediaType": oci.BUNDLE}), "bundle {d}: bundle has no dsseEnvelope",
                 id="bundle-without-envelope"),
]  # fmt: skip


@pytest.mark.parametrize(("store", "reason"), REFERRER_LAYOUTS)
def test_referrer_layouts_that_carry_no_valid_signature(store, reason):
    registry = MemoryRegistry()
    digest = store(registry) or ""
    assert verdict_of(registry) == SignatureVerdict(False, reason.format(d=digest[:19]))


def test_the_bundle_layer_may_follow_layers_of_other_types():
    registry = MemoryRegistry()
    referrer_with(
        registry, {"subject": SUBJECT, "layers": ["x", {"mediaType": UNKNOWN_MEDIA}, bundle_layer(registry)]}
    )
    assert verdict_of(registry).layout == "referrer-bundle"


def test_problems_of_both_layouts_are_reported_together():
    registry = MemoryRegistry()
    registry.sig_tag(signed_layer(registry, annotations={}))
    registry.referrer_lists[IMAGE] = RegistryError("referrers index has no manifests list")
    assert verdict_of(registry).reason == f"{WITHOUT_ANNOTATION}; referrers index has no manifests list"
