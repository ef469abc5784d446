"""Pieces of the webhook on their own: verdict cache, registry credentials, signature formats."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from glm_tts_hooks.image_policy.cache import COALESCED, HIT, MISS, VerdictCache
from glm_tts_hooks.image_policy.policy import PublicKey
from glm_tts_hooks.image_policy.registry import Credentials
from glm_tts_hooks.image_policy.signatures import (
    SignatureInvalid,
    dsse_pae,
    verify_bundle,
    verify_simple_signing,
)

from image_policy import oci

DIGEST = "sha256:" + "5" * 64


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_expires_after_ttl():
    clock = FakeClock()
    cache: VerdictCache[str] = VerdictCache(clock=clock)
    calls = []

    def compute():
        calls.append(1)
        return "verified"

    assert cache.get_or_compute("k", compute, lambda v: 30) == ("verified", MISS)
    assert cache.get_or_compute("k", compute, lambda v: 30) == ("verified", HIT)
    clock.now += 31
    assert cache.get_or_compute("k", compute, lambda v: 30) == ("verified", MISS)
    assert len(calls) == 2


def test_cache_ttl_zero_and_errors_are_not_kept():
    cache: VerdictCache[str] = VerdictCache()
    assert cache.get_or_compute("k", lambda: "v", lambda v: 0) == ("v", MISS)
    assert len(cache) == 0

    def boom():
        raise TimeoutError("registry down")

    with pytest.raises(TimeoutError):
        cache.get_or_compute("k", boom, lambda v: 60)
    assert cache.get_or_compute("k", lambda: "v", lambda v: 60) == ("v", MISS)


def test_cache_is_bounded_lru():
    cache: VerdictCache[int] = VerdictCache(max_entries=2)
    for key in ("a", "b", "a", "c"):
        cache.get_or_compute(key, lambda: 1, lambda v: 60)
    assert len(cache) == 2
    assert cache.get_or_compute("a", lambda: 2, lambda v: 60) == (1, HIT)  # recently used: kept
    assert cache.get_or_compute("b", lambda: 2, lambda v: 60) == (2, MISS)  # least recent: evicted


def test_cache_coalesces_concurrent_lookups():
    cache: VerdictCache[str] = VerdictCache()
    started, release, calls = threading.Event(), threading.Event(), []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return "verified"

    results = []
    owner = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow, lambda v: 0)))
    owner.start()
    started.wait(5)
    waiter = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow, lambda v: 0)))
    waiter.start()
    time.sleep(0.05)
    release.set()
    owner.join(5)
    waiter.join(5)
    assert len(calls) == 1 and sorted(results) == [("verified", COALESCED), ("verified", MISS)]


def test_credentials_from_dockerconfigjson(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
                    "https://registry.example.com/v2/": {"username": "ci", "password": "token"},
                    "quay.io": {"identitytoken": "only-for-oauth"},
                }
            }
        )
    )
    credentials = Credentials.load(str(path))
    assert credentials.lookup("docker.io") == ("hub", "pw")
    assert credentials.lookup("registry.example.com") == ("ci", "token")
    assert credentials.lookup("quay.io") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not a dockerconfigjson"),
        ('{"auths": []}', "expected"),
        ('{"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}', "user:password"),
    ],
)
def test_credentials_errors_say_what_to_fix(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Credentials.load(str(path))


def test_dsse_pae_matches_the_spec_example():
    # Example from the DSSE protocol specification.
    assert dsse_pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


def keys_of(*private):
    return tuple(PublicKey.of(f"k{i}", k.public_key()) for i, k in enumerate(private))


def test_simple_signing_verifies_exact_bytes(key):
    payload = oci.simple_signing_payload("r.io/app", DIGEST)
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    assert verify_simple_signing(payload, signature, DIGEST, keys_of(key)) == "k0"
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_simple_signing(payload + b" ", signature, DIGEST, keys_of(key))
    with pytest.raises(SignatureInvalid, match="not base64"):
        verify_simple_signing(payload, "***", DIGEST, keys_of(key))


def test_simple_signing_rejects_other_payload_types(key):
    payload = json.dumps(
        {"critical": {"type": "something else", "image": {"docker-manifest-digest": DIGEST}}}
    )
    signature = base64.b64encode(key.sign(payload.encode(), ec.ECDSA(hashes.SHA256()))).decode()
    with pytest.raises(SignatureInvalid, match="payload type"):
        verify_simple_signing(payload.encode(), signature, DIGEST, keys_of(key))


def test_bundle_accepts_url_safe_base64_and_any_trusted_key(key):
    other = ec.generate_private_key(ec.SECP256R1())
    bundle = json.loads(oci.dsse_bundle("r.io/app", DIGEST, key))
    envelope = bundle["dsseEnvelope"]
    envelope["payload"] = base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])).decode().rstrip("=")
    assert verify_bundle(json.dumps(bundle).encode(), DIGEST, keys_of(other, key)) == "k1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(mediaType="application/json"), "mediaType"),
        (lambda b: b.pop("dsseEnvelope"), "no dsseEnvelope"),
        (lambda b: b["dsseEnvelope"].update(signatures=[]), "no signatures"),
        (lambda b: b["dsseEnvelope"].update(payloadType="text/plain"), "payloadType"),
    ],
)
def test_bundle_rejections_name_the_problem(key, mutate, message):
    bundle = json.loads(oci.dsse_bundle("r.io/app", DIGEST, key))
    mutate(bundle)
    with pytest.raises(SignatureInvalid, match=message):
        verify_bundle(json.dumps(bundle).encode(), DIGEST, keys_of(key))


def test_message_signature_bundle_is_not_an_image_signature(key):
    """cosign verify refuses a messageSignature bundle for an image (test_cosign_interop.py): so do we."""
    with pytest.raises(SignatureInvalid, match="messageSignature"):
        verify_bundle(oci.message_bundle(DIGEST, key), DIGEST, keys_of(key))
