"""Interoperability with the real cosign, both ways, on a real registry (docker-registry, loopback).

1. Images signed by `cosign sign --key` in both layouts cosign writes offline (no transparency
   log): the sigstore bundle attached as an OCI referrer (cosign 3's default; docker-registry has
   no referrers API, so cosign falls back to the `sha256-<hex>` referrers tag) and the legacy
   `sha256-<hex>.sig` tag (`--new-bundle-format=false`). For each scenario, the webhook's verdict
   must equal `cosign verify --key`'s: both admit what is signed, both refuse unsigned, another
   key, a tampered payload, a signature moved to another digest, and an attestation that is not a
   signature; the webhook's denial names the reason.
2. What the test-side signer (tests/image_policy/oci.py, used by the other signature tests)
   writes, `cosign verify --key` accepts.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness.tools import require_tool

from image_policy import oci
from image_policy.cases import POLICIES, request_body
from image_policy.registry_fixture import LocalRegistry, oci_registry_binary

COSIGN_TIMEOUT = 120
# cosign flags for a key-signed, offline flow on a plain-HTTP loopback registry.
SIGN_FLAGS = ["--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "--yes"]
VERIFY_FLAGS = ["--insecure-ignore-tlog", "--allow-http-registry"]


@dataclass
class Cosign:
    binary: Path
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),  # no ~/.docker, ~/.sigstore from the machine
            "COSIGN_PASSWORD": "",
            "SIGSTORE_NO_CACHE": "1",
            "TUF_ROOT": str(self.workdir / "tuf"),
        }
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            timeout=COSIGN_TIMEOUT,
            env=env,
            cwd=self.workdir,
            check=False,
        )

    def key_pair(self, prefix: str) -> tuple[Path, Path]:
        result = self.run("generate-key-pair", "--output-key-prefix", prefix)
        assert result.returncode == 0, result.stderr
        return self.workdir / f"{prefix}.key", self.workdir / f"{prefix}.pub"

    def sign(self, key: Path, image: str, *extra: str) -> None:
        result = self.run("sign", "--key", str(key), *SIGN_FLAGS, *extra, image)
        assert result.returncode == 0, result.stderr

    def attest(self, key: Path, image: str, predicate: Path, predicate_type: str) -> None:
        result = self.run(
            "attest", "--key", str(key), "--type", predicate_type, "--predicate", str(predicate),
            *SIGN_FLAGS, image,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def verifies(self, key: Path, image: str) -> bool:
        return self.run("verify", "--key", str(key), *VERIFY_FLAGS, image).returncode == 0


class Registry:
    """Plain manifest/blob access for the scenarios that alter what cosign pushed."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.pusher = oci.OciPusher(registry.url)
        self.http = httpx.Client(base_url=registry.url, timeout=10)

    def manifest(self, repo: str, reference: str) -> dict:
        accept = ", ".join([oci.OCI_MANIFEST, oci.OCI_INDEX])
        response = self.http.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})
        response.raise_for_status()
        return response.json()

    def blob(self, repo: str, digest: str) -> bytes:
        response = self.http.get(f"/v2/{repo}/blobs/{digest}")
        response.raise_for_status()
        return response.content

    def put_manifest(self, repo: str, reference: str | None, doc: dict) -> str:
        return self.pusher.manifest(repo, reference, oci.canonical(doc), doc["mediaType"])

    def close(self) -> None:
        self.pusher.close()
        self.http.close()


@dataclass
class Scenario:
    image: str
    detail: str | None  # what the webhook's denial must say; None when admitted


class Interop:
    """One registry with an image per scenario, signed (or not) by cosign in each layout."""

    def __init__(self, registry: LocalRegistry, cosign: Cosign) -> None:
        self.registry, self.cosign = registry, cosign
        self.key, self.pub = cosign.key_pair("ci")
        self.other_key, _ = cosign.key_pair("other")
        self.scenarios: dict[str, Scenario] = {}
        self.store = Registry(registry)
        try:
            for layout in ("bundle", "sig"):
                self._push(layout)
        finally:
            self.store.close()

    def _image(self, repo: str, marker: str) -> tuple[str, str]:
        digest, _ = self.store.pusher.image(repo, marker)
        return f"{self.registry.host}/{repo}@{digest}", digest

    def _push(self, layout: str) -> None:
        extra = ["--new-bundle-format=false"] if layout == "sig" else []
        repo = f"glm-tts/{layout}"

        def add(name: str, image: str, detail: str | None) -> None:
            self.scenarios[f"{layout}-{name}"] = Scenario(image, detail)

        image, _ = self._image(repo, f"{layout}-signed")
        self.cosign.sign(self.key, image, *extra)
        add("signed", image, None)
        signed_digest = image.split("@")[1]

        image, _ = self._image(repo, f"{layout}-unsigned")
        add("unsigned", image, "no cosign signature found")

        image, _ = self._image(repo, f"{layout}-other-key")
        self.cosign.sign(self.other_key, image, *extra)
        add("other-key", image, "does not verify")

        image, digest = self._image(repo, f"{layout}-tampered")
        self.cosign.sign(self.key, image, *extra)
        self._tamper(repo, digest, layout)
        add("tampered", image, "does not verify")

        image, digest = self._image(repo, f"{layout}-moved")
        self._move_signature(repo, signed_digest, digest, layout)
        add("signature-for-another-digest", image, "not the image digest")

        if layout == "bundle":  # cosign 3 writes attestations as bundles only
            image, _ = self._image(repo, "attested")
            predicate = self.cosign.workdir / "sbom.json"
            predicate.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5"}))
            self.cosign.attest(self.key, image, predicate, "cyclonedx")
            add("attestation-not-signature", image, "attestation, not a cosign signature")

    # --- altering what cosign pushed, as an attacker with registry write access would -----------

    def _sig_manifest(self, repo: str, digest: str) -> dict:
        return self.store.manifest(repo, digest.replace(":", "-") + ".sig")

    def _bundle_referrer(self, repo: str, digest: str) -> tuple[dict, dict]:
        index = self.store.manifest(repo, digest.replace(":", "-"))
        (entry,) = index["manifests"]
        return index, self.store.manifest(repo, entry["digest"])

    def _tamper(self, repo: str, digest: str, layout: str) -> None:
        if layout == "sig":
            manifest = self._sig_manifest(repo, digest)
            layer = manifest["layers"][0]
            payload = json.loads(self.store.blob(repo, layer["digest"]))
            payload["optional"] = {"tampered": "yes"}
            data = json.dumps(payload, separators=(",", ":")).encode()
            manifest["layers"][0] = {**layer, **self.store.pusher.blob(repo, data, layer["mediaType"])}
            self.store.put_manifest(repo, digest.replace(":", "-") + ".sig", manifest)
            return
        index, referrer = self._bundle_referrer(repo, digest)
        layer = referrer["layers"][0]
        bundle = json.loads(self.store.blob(repo, layer["digest"]))
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        statement["predicate"] = {"tampered": "yes"}
        bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        data = json.dumps(bundle).encode()
        referrer["layers"][0] = {**layer, **self.store.pusher.blob(repo, data, layer["mediaType"])}
        new_digest = self.store.put_manifest(repo, None, referrer)
        index["manifests"][0] = {
            **index["manifests"][0],
            "digest": new_digest,
            "size": len(oci.canonical(referrer)),
        }
        self.store.put_manifest(repo, digest.replace(":", "-"), index)

    def _move_signature(self, repo: str, signed: str, target: str, layout: str) -> None:
        if layout == "sig":
            self.store.put_manifest(repo, target.replace(":", "-") + ".sig", self._sig_manifest(repo, signed))
            return
        index, referrer = self._bundle_referrer(repo, signed)
        target_manifest = self.store.manifest(repo, target)
        size = len(oci.canonical(target_manifest))
        referrer["subject"] = {"mediaType": oci.OCI_MANIFEST, "digest": target, "size": size}
        new_digest = self.store.put_manifest(repo, None, referrer)
        entry = {**index["manifests"][0], "digest": new_digest, "size": len(oci.canonical(referrer))}
        self.store.put_manifest(repo, target.replace(":", "-"), {**index, "manifests": [entry]})


@pytest.fixture(scope="module")
def interop(tmp_path_factory) -> Interop:
    cosign = Cosign(require_tool("cosign"), tmp_path_factory.mktemp("cosign"))
    registry = LocalRegistry(oci_registry_binary(), tmp_path_factory.mktemp("cosign-registry"))
    registry.start()
    try:
        yield Interop(registry, cosign)
    finally:
        registry.stop()


def policy_for(interop: Interop) -> dict:
    host = interop.registry.host
    return {
        **POLICIES["enforce"],
        "allowedRegistries": [f"{host}/glm-tts/"],
        "signatures": {
            "required": True,
            "publicKeys": [{"name": "ci", "pem": interop.pub.read_text()}],
            "timeoutSeconds": 5,
            "cacheTTLSeconds": 0,
            "insecureRegistries": [host],
        },
    }


def review(image: str) -> dict:
    case = {
        "api": "AdmissionReview",
        "kind": "Pod",
        "namespace": "glm-tts",
        "images": {"containers": [image]},
    }
    return json.loads(request_body(case))


SCENARIOS = [
    f"{layout}-{name}"
    for layout in ("bundle", "sig")
    for name in ("signed", "unsigned", "other-key", "tampered", "signature-for-another-digest")
] + ["bundle-attestation-not-signature"]


# Where the webhook deliberately decides otherwise than `cosign verify --key` (README: "cosign").
KNOWN_DIFFERENCES = {
    # cosign 3.1.3 accepts any bundle the key signed whose subject is the image, whatever its
    # predicate type: an SBOM attestation passes `cosign verify` as if it were a signature. The
    # webhook admits only the signing predicate (https://sigstore.dev/cosign/sign/v1): an
    # attestation says what an image contains, not that the pipeline approved it to run.
    "bundle-attestation-not-signature": True,
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_webhook_admits_exactly_what_cosign_verify_accepts(interop, start_webhook, name):
    scenario = interop.scenarios[name]
    cosign_accepts = interop.cosign.verifies(interop.pub, scenario.image)
    _, client = start_webhook(policy_for(interop))
    answer = client.post("/validate", json=review(scenario.image)).json()["response"]
    webhook_admits = scenario.detail is None
    assert answer["allowed"] is webhook_admits, (name, answer)
    # cosign's verdict is the same, except where listed (if cosign changes, this says so).
    assert cosign_accepts is KNOWN_DIFFERENCES.get(name, webhook_admits), (
        f"{name}: cosign changed its verdict"
    )
    if not webhook_admits:
        message = answer["status"]["message"]
        assert "[rule signature]" in message and scenario.detail in message, message


def _pem_file(directory: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path = directory / f"key-{id(key)}.pub"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.parametrize(
    ("layout", "accepted"), [("sig-tag", True), ("bundle-dsse", True), ("bundle-message", False)]
)
def test_cosign_and_webhook_agree_on_what_the_test_signer_writes(interop, start_webhook, layout, accepted):
    """The other signature tests sign with oci.py: cosign must read those signatures as we do."""
    key = ec.generate_private_key(ec.SECP256R1())
    store = Registry(interop.registry)
    try:
        repo = "glm-tts/test-signer"
        digest, size = store.pusher.image(repo, layout)
        image = f"{interop.registry.host}/{repo}@{digest}"
        if layout == "sig-tag":
            oci.sign_sig_tag(store.pusher, repo, f"{interop.registry.host}/{repo}", digest, key)
        elif layout == "bundle-dsse":
            bundle = oci.dsse_bundle(f"{interop.registry.host}/{repo}", digest, key)
            oci.attach_bundle(store.pusher, repo, digest, size, bundle)
        else:  # a signed digest, as `cosign sign-blob --bundle` writes: not an image signature
            oci.attach_bundle(store.pusher, repo, digest, size, oci.message_bundle(digest, key))
    finally:
        store.close()
    pub = _pem_file(interop.cosign.workdir, key)
    result = interop.cosign.run("verify", "--key", str(pub), *VERIFY_FLAGS, image)
    assert (result.returncode == 0) is accepted, result.stderr
    policy = policy_for(interop)
    policy["signatures"]["publicKeys"] = [{"name": "ci", "pem": pub.read_text()}]
    _, client = start_webhook(policy)
    assert client.post("/validate", json=review(image)).json()["response"]["allowed"] is accepted
    other = _pem_file(interop.cosign.workdir, ec.generate_private_key(ec.SECP256R1()))
    assert not interop.cosign.verifies(other, image)  # and cosign is really checking the key
