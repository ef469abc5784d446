"""cosign key-pair signature verification (ECDSA P-256) for an image digest, both layouts cosign writes.

(a) cosign 1/2: tag `sha256-<hex>.sig` → manifest whose layers are simple-signing payloads
    (`application/vnd.dev.cosign.simplesigning.v1+json`), the base64 DER signature in the layer
    annotation `dev.cosignproject.cosign/signature`, signed over the exact payload bytes.
(b) cosign 3: OCI 1.1 referrers (API, or the `sha256-<hex>` referrers tag) with artifactType
    `application/vnd.dev.sigstore.bundle.v0.3+json`; the bundle carries a DSSE envelope around an
    in-toto statement (predicate `https://sigstore.dev/cosign/sign/v1`) or a messageSignature.

Like `cosign verify --key ... --insecure-ignore-tlog`, transparency-log entries are not checked:
the trust anchor is the pipeline's key, and the webhook must decide offline within its deadline.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from glm_tts_hooks.image_policy.policy import PublicKey
from glm_tts_hooks.image_policy.reference import ImageReference
from glm_tts_hooks.image_policy.registry import (
    Deadline,
    NotFound,
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
)

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING_TYPE = "cosign container image signature"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
INTOTO_STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
# cosign 3 stores signatures and attestations as the same referrer type; only this predicate
# means "signed for admission" (an SBOM attestation signed by the key is not a signature).
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
MAX_SIGNATURES = 32  # bound the work a registry can make us do per image
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

LAYOUT_SIG_TAG = "sig-tag"
LAYOUT_BUNDLE = "referrer-bundle"


class SignatureInvalid(Exception):
    """This signature artifact does not verify; the message says why."""


@dataclass(frozen=True)
class SignatureVerdict:
    verified: bool
    reason: str  # which key verified which layout, or why nothing verified
    key_name: str | None = None
    layout: str | None = None


def _b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise SignatureInvalid(f"{what} is missing")
    try:
        # protobuf JSON writes standard base64; accept the URL-safe alphabet too, as protojson does.
        return base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise SignatureInvalid(f"{what} is not base64") from None


def _same_digest(value: Any, expected: str) -> bool:
    """Digests compare case-insensitively, as cosign compares them; anything but a string differs."""
    return isinstance(value, str) and value.lower() == expected.lower()


def _verify_with_any(keys: tuple[PublicKey, ...], signature: bytes, data: bytes) -> str:
    algorithm = ec.ECDSA(hashes.SHA256())
    for key in keys:
        try:
            key.key.verify(signature, data, algorithm)
        except InvalidSignature:
            continue
        return key.name
    names = ", ".join(k.name for k in keys)
    raise SignatureInvalid(f"signature does not verify with the trusted key(s) {names}")


def verify_simple_signing(
    payload: bytes, signature_b64: str, digest: str, keys: tuple[PublicKey, ...]
) -> str:
    """Verify one `.sig` layer; return the name of the key that signed it."""
    signature = _b64decode(signature_b64, f"annotation {SIGNATURE_ANNOTATION}")
    key_name = _verify_with_any(keys, signature, payload)  # over the exact bytes, before parsing
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        kind = critical["type"]
        signed_digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        raise SignatureInvalid("simple-signing payload lacks critical.type / critical.image") from None
    if kind != SIMPLE_SIGNING_TYPE:
        raise SignatureInvalid(f"payload type is {kind!r}, not {SIMPLE_SIGNING_TYPE!r}")
    if not _same_digest(signed_digest, digest):
        raise SignatureInvalid(f"payload signs {signed_digest}, not the image digest {digest}")
    return key_name


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature actually covers."""
    encoded_type = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


def verify_bundle(bundle_bytes: bytes, digest: str, keys: tuple[PublicKey, ...]) -> str:
    """Verify one sigstore bundle (v0.3) for `digest`; return the name of the key that signed it."""
    try:
        bundle = json.loads(bundle_bytes)
    except ValueError:
        raise SignatureInvalid("bundle is not JSON") from None
    if not isinstance(bundle, dict) or bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise SignatureInvalid(f"bundle mediaType is not {BUNDLE_MEDIA_TYPE}")
    algorithm, _, expected_hex = digest.partition(":")
    if algorithm != "sha256":
        raise SignatureInvalid(f"only sha256 image digests can be verified, not {algorithm}")
    if not SHA256_HEX.fullmatch(expected_hex):
        raise SignatureInvalid(f"image digest {digest!r} is not sha256:<64 hex digits>")

    if isinstance(bundle.get("dsseEnvelope"), dict):
        envelope = bundle["dsseEnvelope"]
        payload_type = envelope.get("payloadType")
        if payload_type != INTOTO_PAYLOAD_TYPE:
            raise SignatureInvalid(f"DSSE payloadType is {payload_type!r}, not {INTOTO_PAYLOAD_TYPE}")
        payload = _b64decode(envelope.get("payload"), "DSSE payload")
        signatures = envelope.get("signatures")
        if not isinstance(signatures, list) or not signatures:
            raise SignatureInvalid("DSSE envelope has no signatures")
        signed = dsse_pae(payload_type, payload)
        key_name, problems = None, []
        for entry in signatures[:MAX_SIGNATURES]:
            sig = entry.get("sig") if isinstance(entry, dict) else None
            try:
                key_name = _verify_with_any(keys, _b64decode(sig, "DSSE sig"), signed)
                break
            except SignatureInvalid as exc:
                problems.append(str(exc))
        if key_name is None:
            reasons = "; ".join(dict.fromkeys(problems))
            raise SignatureInvalid(f"DSSE envelope has no valid signature: {reasons}")
        _check_statement(payload, expected_hex)
        return key_name

    if isinstance(bundle.get("messageSignature"), dict):
        # A signed blob digest (`cosign sign-blob --bundle`), which `cosign verify` refuses for
        # images ("bundle does not contain a DSSE envelope"): refuse it as cosign does.
        raise SignatureInvalid(
            "bundle carries a messageSignature (a signed blob), not a DSSE image signature"
        )
    raise SignatureInvalid("bundle has no dsseEnvelope")


def _check_statement(payload: bytes, expected_hex: str) -> None:
    try:
        statement = json.loads(payload)
        statement_type = statement["_type"]
        predicate_type = statement["predicateType"]
        subjects = statement["subject"]
    except (ValueError, KeyError, TypeError):
        raise SignatureInvalid("DSSE payload is not an in-toto statement") from None
    if statement_type not in INTOTO_STATEMENT_TYPES:
        raise SignatureInvalid(f"statement _type {statement_type!r} is not in-toto")
    if predicate_type != COSIGN_SIGN_PREDICATE:
        raise SignatureInvalid(f"statement is a {predicate_type!r} attestation, not a cosign signature")
    if not isinstance(subjects, list) or not any(
        isinstance(s, dict)
        and isinstance(s.get("digest"), dict)
        and _same_digest(s["digest"].get("sha256"), expected_hex)
        for s in subjects
    ):
        raise SignatureInvalid(f"statement subject is not the image digest sha256:{expected_hex}")


def _list(value: Any) -> list:
    """A JSON array from registry content, or nothing: a malformed manifest yields no signature
    (and a reason), never an exception that would skip the other layout."""
    return value if isinstance(value, list) else []


class SignatureVerifier:
    """Finds cosign signatures for an image in its registry and verifies them against trusted keys."""

    def __init__(self, registry: RegistryClient) -> None:
        self.registry = registry

    def verify(
        self, ref: ImageReference, keys: tuple[PublicKey, ...], deadline: Deadline
    ) -> SignatureVerdict:
        """Verified on the first valid signature; RegistryUnavailable propagates (the caller decides
        fail-open/closed); every other problem ends in an unverified verdict that says why."""
        if not ref.is_sha256_pinned or ref.digest is None:
            return SignatureVerdict(
                False, "only an image pinned by sha256 digest can have its signature checked"
            )
        problems: list[str] = []
        for layout, check in ((LAYOUT_SIG_TAG, self._sig_tag), (LAYOUT_BUNDLE, self._bundles)):
            try:
                key_name = check(ref, ref.digest, keys, deadline, problems)
            except NotFound:
                continue
            except RegistryUnavailable:
                raise
            except RegistryError as exc:  # answered, but unusable: this layout yields no signature
                problems.append(str(exc))
                continue
            if key_name:
                return SignatureVerdict(True, f"signed with key {key_name!r} ({layout})", key_name, layout)
        reason = (
            "; ".join(dict.fromkeys(problems)) if problems else "no cosign signature found in the registry"
        )
        return SignatureVerdict(False, reason)

    def _sig_tag(self, ref, digest, keys, deadline, problems) -> str | None:
        tag = digest.replace(":", "-", 1) + ".sig"
        manifest = self.registry.manifest(ref.registry, ref.repository, tag, deadline).json()
        layers = _list(manifest.get("layers"))
        for layer in layers[:MAX_SIGNATURES]:
            if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING_MEDIA_TYPE:
                continue
            annotations = layer.get("annotations")
            annotations = annotations if isinstance(annotations, dict) else {}
            if SIGNATURE_ANNOTATION not in annotations or not isinstance(layer.get("digest"), str):
                problems.append(f"{tag}: layer without {SIGNATURE_ANNOTATION}")
                continue
            payload = self.registry.blob(ref.registry, ref.repository, layer["digest"], deadline)
            try:
                return verify_simple_signing(payload, annotations[SIGNATURE_ANNOTATION], digest, keys)
            except SignatureInvalid as exc:
                problems.append(f"{tag}: {exc}")
        if not layers:
            problems.append(f"{tag}: no signature layers")
        return None

    def _bundles(self, ref, digest, keys, deadline, problems) -> str | None:
        descriptors = self.registry.referrers(ref.registry, ref.repository, digest, deadline)
        bundles = [d for d in descriptors if d.get("artifactType") == BUNDLE_MEDIA_TYPE]
        for descriptor in bundles[:MAX_SIGNATURES]:
            manifest_digest = descriptor.get("digest")
            if not isinstance(manifest_digest, str) or not manifest_digest.startswith("sha256:"):
                continue
            manifest = self.registry.manifest(ref.registry, ref.repository, manifest_digest, deadline).json()
            subject = manifest.get("subject") or {}
            if not isinstance(subject, dict) or not _same_digest(subject.get("digest"), digest):
                problems.append(f"referrer {manifest_digest[:19]}: subject is not the image")
                continue
            layers = [
                layer
                for layer in _list(manifest.get("layers"))
                if isinstance(layer, dict) and layer.get("mediaType") == BUNDLE_MEDIA_TYPE
            ]
            if not layers or not isinstance(layers[0].get("digest"), str):
                problems.append(f"referrer {manifest_digest[:19]}: no bundle layer")
                continue
            bundle = self.registry.blob(ref.registry, ref.repository, layers[0]["digest"], deadline)
            try:
                return verify_bundle(bundle, digest, keys)
            except SignatureInvalid as exc:
                problems.append(f"bundle {manifest_digest[:19]}: {exc}")
        return None
