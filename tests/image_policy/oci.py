"""Test-side OCI and cosign producers: push a small real image, then sign it exactly as cosign does.

Written from the formats (OCI distribution/image spec, cosign SIGNATURE_SPEC and BUNDLE_SPEC,
DSSE, in-toto), independently of the verifier in glm_tts_hooks.image_policy.signatures, so the two
check each other.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import ssl
import tarfile
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


class OciPusher:
    """Pushes blobs and manifests with the distribution API (what `crane`/`cosign` do)."""

    def __init__(self, base_url: str, verify: ssl.SSLContext | bool = True) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10, verify=verify)

    def close(self) -> None:
        self.client.close()

    def blob(self, repo: str, data: bytes, media_type: str) -> dict:
        digest = sha256(data)
        start = self.client.post(f"/v2/{repo}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = start.headers["location"]
        separator = "&" if "?" in location else "?"
        done = self.client.put(
            f"{location}{separator}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def manifest(self, repo: str, reference: str | None, body: bytes, media_type: str) -> str:
        digest = sha256(body)
        response = self.client.put(
            f"/v2/{repo}/manifests/{reference or digest}", content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == 201, response.text
        return digest

    def get_manifest(self, repo: str, reference: str) -> dict | None:
        response = self.client.get(
            f"/v2/{repo}/manifests/{reference}", headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}
        )
        return response.json() if response.status_code == 200 else None

    def image(self, repo: str, marker: str, tag: str = "1.0") -> tuple[str, int]:
        """Push a one-layer image whose file holds `marker`; return (manifest digest, manifest size)."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            content = f"glm-tts test image {marker}\n".encode()
            info = tarfile.TarInfo("etc/glm-tts-marker")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        layer = gzip.compress(raw.getvalue(), mtime=0)
        config = canonical(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Entrypoint": ["/bin/true"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256(raw.getvalue())]},
            }
        )
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": self.blob(repo, config, OCI_CONFIG),
                "layers": [self.blob(repo, layer, OCI_LAYER)],
            }
        )
        return self.manifest(repo, tag, manifest, OCI_MANIFEST), len(manifest)


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


def sign_sig_tag(
    pusher: OciPusher,
    repo: str,
    docker_reference: str,
    digest: str,
    key: ec.EllipticCurvePrivateKey,
    payload: bytes | None = None,
    tamper: Callable[[bytes], bytes] | None = None,
) -> None:
    """cosign 1/2 layout: tag sha256-<hex>.sig, simple-signing layer, base64 DER signature annotation.
    `tamper` changes the stored payload after signing (what an attacker would do)."""
    payload = payload or simple_signing_payload(docker_reference, digest)
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    stored = tamper(payload) if tamper else payload
    layer = pusher.blob(repo, stored, SIMPLE_SIGNING)
    layer["annotations"] = {SIGNATURE_ANNOTATION: signature}
    config = canonical(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": pusher.blob(repo, config, OCI_CONFIG),
            "layers": [layer],
        }
    )
    pusher.manifest(repo, digest.replace(":", "-") + ".sig", manifest, OCI_MANIFEST)


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    return b"DSSEv1 " + b" ".join(
        [str(len(payload_type.encode())).encode(), payload_type.encode(), str(len(payload)).encode(), payload]
    )


def dsse_bundle(
    name: str,
    digest: str,
    key: ec.EllipticCurvePrivateKey,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    tamper: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """A sigstore bundle v0.3 as cosign 3 writes for `cosign sign --key`: DSSE around an in-toto statement."""
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": digest.split(":", 1)[1]}}],
            "predicateType": predicate_type,
            "predicate": {},
        }
    ).encode()
    payload_type = "application/vnd.in-toto+json"
    signature = key.sign(dsse_pae(payload_type, statement), ec.ECDSA(hashes.SHA256()))
    stored = tamper(statement) if tamper else statement
    return json.dumps(
        {
            "mediaType": BUNDLE,
            "verificationMaterial": {"publicKey": {"hint": "test-key"}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": base64.b64encode(stored).decode(),
                "payloadType": payload_type,
                "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
            },
        }
    ).encode()


def message_bundle(digest: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A sigstore bundle v0.3 with a messageSignature over the image digest."""
    digest_bytes = bytes.fromhex(digest.split(":", 1)[1])
    signature = key.sign(digest_bytes, ec.ECDSA(Prehashed(hashes.SHA256())))
    return json.dumps(
        {
            "mediaType": BUNDLE,
            "verificationMaterial": {"publicKey": {"hint": "test-key"}, "tlogEntries": []},
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(digest_bytes).decode()},
                "signature": base64.b64encode(signature).decode(),
            },
        }
    ).encode()


def attach_bundle(
    pusher: OciPusher,
    repo: str,
    digest: str,
    manifest_size: int,
    bundle: bytes,
    subject_digest: str | None = None,
) -> None:
    """cosign 3 layout: a referrer manifest (artifactType bundle, subject = image) plus the referrers
    tag schema index `sha256-<hex>`, for registries without the referrers API (distribution 2.x)."""
    layer = pusher.blob(repo, bundle, BUNDLE)
    layer["annotations"] = {
        "org.opencontainers.image.title": layer["digest"].replace(":", "-") + ".sigstore.json"
    }
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": pusher.blob(repo, b"{}", OCI_EMPTY),
            "layers": [layer],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest or digest, "size": manifest_size},
            "annotations": {"dev.sigstore.bundle.content": "dsse-envelope"},
        }
    )
    referrer = pusher.manifest(repo, None, manifest, OCI_MANIFEST)
    tag = digest.replace(":", "-")
    index = pusher.get_manifest(repo, tag) or {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"].append(
        {"mediaType": OCI_MANIFEST, "digest": referrer, "size": len(manifest), "artifactType": BUNDLE}
    )
    pusher.manifest(repo, tag, canonical(index), OCI_INDEX)
