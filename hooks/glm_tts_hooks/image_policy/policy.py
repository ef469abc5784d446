"""The image policy: load and validate the YAML file, reload it on change, decide per image.

`evaluate_image` is the pure decision (no network): registry allow-list, digest pinning,
denied tags and untagged images. Signatures are checked separately (signatures.py) because
they need the registry. The chart's CEL and Kyverno engines implement the same rules and are
tested against the same case table (tests/image_policy/cases.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from glm_tts_hooks.image_policy.files import file_stamp
from glm_tts_hooks.image_policy.reference import InvalidReference, RegistryPrefix, parse_reference

log = logging.getLogger(__name__)

MODES = ("enforce", "audit")

# Rule names, in the order a denial reports them (the first one is "the" rule of a case).
RULE_INVALID_REFERENCE = "invalid-reference"
RULE_REGISTRY = "registry"
RULE_DENIED_TAG = "denied-tag"
RULE_UNTAGGED = "untagged"
RULE_DIGEST = "digest"
RULE_SIGNATURE = "signature"
RULES = (RULE_INVALID_REFERENCE, RULE_REGISTRY, RULE_DENIED_TAG, RULE_UNTAGGED, RULE_DIGEST, RULE_SIGNATURE)

MAX_POLICY_BYTES = 1024 * 1024


class PolicyError(ValueError):
    """The policy file is invalid; the message names the key and what to write instead."""


@dataclass(frozen=True)
class PublicKey:
    name: str
    key: ec.EllipticCurvePublicKey

    @property
    def fingerprint(self) -> str:
        """sha256 of the DER public key: identifies the key in cache keys whatever its name."""
        der = self.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class SignaturePolicy:
    required: bool = True
    public_keys: tuple[PublicKey, ...] = ()
    cache_ttl_seconds: float = 300.0
    timeout_seconds: float = 3.0
    fail_open: bool = False
    insecure_registries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Policy:
    allowed_registries: tuple[RegistryPrefix, ...]
    mode: str = "enforce"
    require_digest: bool = True
    denied_tags: frozenset[str] = frozenset({"latest"})
    deny_untagged: bool = True
    exempt_namespaces: frozenset[str] = frozenset()
    signatures: SignaturePolicy = field(default_factory=lambda: SignaturePolicy(required=False))

    @property
    def audit(self) -> bool:
        return self.mode == "audit"


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str  # what is wrong, naming the image
    fix: str  # what to change

    def describe(self) -> str:
        return f"{self.message} [rule {self.rule}]; fix: {self.fix}"


def evaluate_image(image: str, policy: Policy) -> list[Violation]:
    """Every policy violation of one image reference, in RULES order; [] means admitted (pre-signature)."""
    try:
        ref = parse_reference(image)
    except InvalidReference as exc:
        fix = "write the image as registry/repository@sha256:<64 hex>"
        return [Violation(RULE_INVALID_REFERENCE, str(exc), fix)]

    violations: list[Violation] = []
    if not any(prefix.admits(ref) for prefix in policy.allowed_registries):
        allowed = ", ".join(str(p) for p in policy.allowed_registries)
        violations.append(
            Violation(
                RULE_REGISTRY,
                f"image {image!r} ({ref.name}) is not from an allowed registry",
                f"push the image to one of: {allowed}",
            )
        )
    if ref.tag is not None and ref.tag in policy.denied_tags:
        violations.append(
            Violation(
                RULE_DENIED_TAG,
                f"image {image!r} uses the denied tag {ref.tag!r}",
                f"use an immutable tag and pin by digest: {ref.name}@sha256:<digest>",
            )
        )
    if policy.deny_untagged and ref.tag is None and ref.digest is None:
        violations.append(
            Violation(
                RULE_UNTAGGED,
                f"image {image!r} has neither tag nor digest (the runtime would pull :latest)",
                f"pin by digest: {ref.name}@sha256:<digest>",
            )
        )
    if policy.require_digest and not ref.is_sha256_pinned:
        violations.append(
            Violation(
                RULE_DIGEST,
                f"image {image!r} is not pinned by a sha256 digest",
                f"pin by digest: {ref.pinned('sha256:<digest>')}",
            )
        )
    return violations


def is_exempt(namespace: str | None, policy: Policy) -> bool:
    return bool(namespace) and namespace in policy.exempt_namespaces


def evaluate_images(
    namespace: str | None, images: Iterable[str], policy: Policy
) -> dict[str, list[Violation]]:
    """Namespace-level wrapper: violations per distinct image; {} for an exempt namespace."""
    if is_exempt(namespace, policy):
        return {}
    return {image: evaluate_image(image, policy) for image in dict.fromkeys(images)}


# --- loading -------------------------------------------------------------------------------------

_TOP_KEYS = {
    "mode",
    "allowedRegistries",
    "requireDigest",
    "deniedTags",
    "denyUntagged",
    "exemptNamespaces",
    "signatures",
}
_SIGNATURE_KEYS = {
    "required",
    "publicKeys",
    "cacheTTLSeconds",
    "timeoutSeconds",
    "failOpen",
    "insecureRegistries",
}
# The webhook's own deadline is 5 s (the maximum the API server allows is 30 s, we keep headroom).
MAX_REGISTRY_TIMEOUT_SECONDS = 30.0


def _expect(value: Any, kind: type | tuple[type, ...], key: str, example: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise PolicyError(f"{key}: expected a number, got {value!r}; e.g. {example}")
    if not isinstance(value, kind):
        raise PolicyError(f"{key}: expected {_kind_name(kind)}, got {value!r}; e.g. {example}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", str: "a string", list: "a list", dict: "a mapping", int: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _string_list(value: Any, key: str, example: str) -> list[str]:
    _expect(value, list, key, example)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise PolicyError(f"{key}[{i}]: expected a non-empty string, got {item!r}")
    return value


def _unknown_keys(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )


def _parse_public_keys(value: Any) -> tuple[PublicKey, ...]:
    _expect(value, list, "signatures.publicKeys", "[{name: ci, pem: '-----BEGIN PUBLIC KEY-----...'}]")
    keys: list[PublicKey] = []
    for i, item in enumerate(value):
        where = f"signatures.publicKeys[{i}]"
        _expect(item, dict, where, "{name: ci, pem: ...}")
        _unknown_keys(item, {"name", "pem"}, where)
        name = item.get("name")
        pem = item.get("pem")
        if not isinstance(name, str) or not name:
            raise PolicyError(f"{where}.name: expected a non-empty string naming the key, e.g. ci")
        if not isinstance(pem, str) or "BEGIN PUBLIC KEY" not in pem:
            raise PolicyError(f"{where}.pem: expected a PEM public key (-----BEGIN PUBLIC KEY-----)")
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError as exc:
            raise PolicyError(f"{where}.pem: not a readable PEM public key ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise PolicyError(f"{where}.pem: cosign keys are ECDSA P-256; this key is {type(key).__name__}")
        keys.append(PublicKey(name=name, key=key))
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise PolicyError("signatures.publicKeys: key names must be unique")
    return tuple(keys)


def _number(value: Any, key: str, example: str, minimum: float, maximum: float | None = None) -> float:
    _expect(value, (int, float), key, example)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:g}" if maximum is not None else ""
        raise PolicyError(f"{key}: {value!r} is out of range; use at least {minimum:g}{upper}")
    return float(value)


def _parse_signatures(data: Any) -> SignaturePolicy:
    _expect(data, dict, "signatures", "{required: true, publicKeys: [...]}")
    _unknown_keys(data, _SIGNATURE_KEYS, "signatures")
    required = _expect(data.get("required", True), bool, "signatures.required", "true")
    keys = _parse_public_keys(data.get("publicKeys", []))
    if required and not keys:
        raise PolicyError(
            "signatures.publicKeys: at least one key is needed when signatures.required is true "
            "(add your cosign.pub, or set signatures.required: false)"
        )
    insecure = _string_list(
        data.get("insecureRegistries", []), "signatures.insecureRegistries", "[127.0.0.1:5000]"
    )
    return SignaturePolicy(
        required=required,
        public_keys=keys,
        cache_ttl_seconds=_number(data.get("cacheTTLSeconds", 300), "signatures.cacheTTLSeconds", "300", 0),
        timeout_seconds=_number(
            data.get("timeoutSeconds", 3), "signatures.timeoutSeconds", "3", 0.1, MAX_REGISTRY_TIMEOUT_SECONDS
        ),
        fail_open=_expect(data.get("failOpen", False), bool, "signatures.failOpen", "false"),
        insecure_registries=frozenset(h.lower().rstrip("/") for h in insecure),
    )


def parse_policy(data: Any) -> Policy:
    """Validate a policy mapping (the YAML document) into a Policy; raise PolicyError naming the key."""
    if not isinstance(data, dict):
        raise PolicyError("the policy must be a YAML mapping with at least allowedRegistries")
    _unknown_keys(data, _TOP_KEYS, "policy")
    mode = data.get("mode", "enforce")
    if mode not in MODES:
        raise PolicyError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    if "allowedRegistries" not in data:
        raise PolicyError("allowedRegistries: required, e.g. [registry.example.com/glm-tts/]")
    entries = _string_list(data["allowedRegistries"], "allowedRegistries", "[registry.example.com/glm-tts/]")
    if not entries:
        raise PolicyError("allowedRegistries: empty list would deny every image; list at least one registry")
    prefixes = []
    for i, entry in enumerate(entries):
        try:
            prefixes.append(RegistryPrefix.parse(entry))
        except InvalidReference as exc:
            raise PolicyError(f"allowedRegistries[{i}]: {exc}") from None
    signatures = (
        _parse_signatures(data["signatures"]) if "signatures" in data else SignaturePolicy(required=False)
    )
    return Policy(
        allowed_registries=tuple(prefixes),
        mode=mode,
        require_digest=_expect(data.get("requireDigest", True), bool, "requireDigest", "true"),
        denied_tags=frozenset(_string_list(data.get("deniedTags", ["latest"]), "deniedTags", "[latest]")),
        deny_untagged=_expect(data.get("denyUntagged", True), bool, "denyUntagged", "true"),
        exempt_namespaces=frozenset(
            _string_list(data.get("exemptNamespaces", []), "exemptNamespaces", "[kube-system]")
        ),
        signatures=signatures,
    )


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file; PolicyError names the file and the problem."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"{path}: larger than {MAX_POLICY_BYTES} bytes")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML ({exc})") from None
    try:
        return parse_policy(data)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None


class PolicyStore:
    """The current policy, reloaded when the file changes; a bad file keeps the last good policy."""

    def __init__(self, path: str, on_reload: Any = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._on_reload = on_reload or (lambda ok, error: None)
        self._stamp = file_stamp(path)
        self._policy = load_policy(path)  # startup: let PolicyError propagate (exit 2)
        self.last_error: str | None = None

    @property
    def path(self) -> str:
        return self._path

    def current(self) -> Policy:
        """The policy in force; stats the file (microseconds) and reloads if it changed."""
        stamp = file_stamp(self._path)
        if stamp == self._stamp:
            return self._policy
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._policy = load_policy(self._path)
                except PolicyError as exc:
                    self.last_error = str(exc)
                    log.error("policy reload failed, keeping the last good policy: %s", exc)
                    self._on_reload(False, str(exc))
                else:
                    self.last_error = None
                    log.info("policy reloaded from %s (mode %s)", self._path, self._policy.mode)
                    self._on_reload(True, None)
            return self._policy
