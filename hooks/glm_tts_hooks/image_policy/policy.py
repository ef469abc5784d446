"""The image policy: the policy file's one typed model, its reload, and the per-image decision.

`Policy` (pydantic, unknown keys refused, no type coercion) is the only parser of the policy
file. The chart's `policy` values are the same document: a test holds the chart's values schema
to this model. `evaluate_image` is the pure decision (no network): registry allow-list, digest
pinning, denied tags and untagged images. Signatures are checked separately (signatures.py)
because they need the registry. The chart's CEL and Kyverno engines implement the same rules
and are tested against the same case table (tests/image_policy/cases.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

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
# The webhook's own deadline is 5 s (the maximum the API server allows is 30 s, we keep headroom).
MAX_REGISTRY_TIMEOUT_SECONDS = 30.0


class PolicyError(ValueError):
    """The policy file is invalid; the message names the key and what to write instead."""


# --- the policy file -----------------------------------------------------------------------------

NonEmptyStr = Annotated[str, StringConstraints(strict=True, min_length=1)]


def _seconds(value: Any) -> float:
    # YAML 3 and 3.0 both; never "3" or true (which lax parsing would turn into numbers).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    return float(value)


Seconds = Annotated[float, BeforeValidator(_seconds)]


def _registry_prefix(entry: Any) -> RegistryPrefix:
    if not isinstance(entry, str) or not entry:
        raise ValueError("expected a registry prefix string, e.g. registry.example.com/glm-tts/")
    try:
        return RegistryPrefix.parse(entry)
    except InvalidReference as exc:
        raise ValueError(str(exc)) from None


AllowedRegistry = Annotated[
    RegistryPrefix, BeforeValidator(_registry_prefix), WithJsonSchema({"type": "string", "minLength": 1})
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class PublicKey(_Section):
    """A cosign public key (ECDSA P-256, PEM) and the name denials and cache keys use for it."""

    name: NonEmptyStr = Field(description="names the key in messages, e.g. ci")
    pem: NonEmptyStr = Field(description="the PEM public key, -----BEGIN PUBLIC KEY-----")
    _key: ec.EllipticCurvePublicKey = PrivateAttr()

    @field_validator("pem")
    @classmethod
    def _cosign_key(cls, pem: str) -> str:
        if "BEGIN PUBLIC KEY" not in pem:
            raise ValueError("expected a PEM public key (-----BEGIN PUBLIC KEY-----)")
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError as exc:
            raise ValueError(f"not a readable PEM public key ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"cosign keys are ECDSA P-256; this key is {type(key).__name__}")
        return pem

    @classmethod
    def of(cls, name: str, key: ec.EllipticCurvePublicKey) -> PublicKey:
        pem = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        return cls(name=name, pem=pem)

    def model_post_init(self, _context: Any) -> None:
        self._key = load_pem_public_key(self.pem.encode())  # type: ignore[assignment]

    @property
    def key(self) -> ec.EllipticCurvePublicKey:
        return self._key

    @property
    def fingerprint(self) -> str:
        """sha256 of the DER public key: identifies the key in cache keys whatever its name."""
        der = self._key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()


class SignaturePolicy(_Section):
    required: StrictBool = True
    public_keys: tuple[PublicKey, ...] = Field((), alias="publicKeys", validate_default=True)
    cache_ttl_seconds: Seconds = Field(300.0, alias="cacheTTLSeconds", ge=0)
    timeout_seconds: Seconds = Field(3.0, alias="timeoutSeconds", ge=0.1, le=MAX_REGISTRY_TIMEOUT_SECONDS)
    fail_open: StrictBool = Field(False, alias="failOpen")
    insecure_registries: tuple[NonEmptyStr, ...] = Field((), alias="insecureRegistries")

    @field_validator("public_keys")
    @classmethod
    def _keys_present_and_unique(
        cls, keys: tuple[PublicKey, ...], info: ValidationInfo
    ) -> tuple[PublicKey, ...]:
        if info.data.get("required", True) and not keys:
            raise ValueError(
                "at least one key is needed when signatures.required is true "
                "(add your cosign.pub, or set signatures.required: false)"
            )
        names = [k.name for k in keys]
        if len(set(names)) != len(names):
            raise ValueError("key names must be unique")
        return keys

    @property
    def insecure_hosts(self) -> frozenset[str]:
        return frozenset(h.lower().rstrip("/") for h in self.insecure_registries)


class Policy(_Section):
    """The policy file, which is also the image-policy chart's `policy` values."""

    mode: Literal["enforce", "audit"] = "enforce"
    allowed_registries: tuple[AllowedRegistry, ...] = Field(alias="allowedRegistries")
    require_digest: StrictBool = Field(True, alias="requireDigest")
    denied_tags: tuple[NonEmptyStr, ...] = Field(("latest",), alias="deniedTags")
    deny_untagged: StrictBool = Field(True, alias="denyUntagged")
    exempt_namespaces: tuple[NonEmptyStr, ...] = Field((), alias="exemptNamespaces")
    signatures: SignaturePolicy = Field(default_factory=lambda: SignaturePolicy(required=False))

    @field_validator("allowed_registries")
    @classmethod
    def _not_empty(cls, prefixes: tuple[RegistryPrefix, ...]) -> tuple[RegistryPrefix, ...]:
        if not prefixes:
            raise ValueError("an empty list would deny every image; list at least one registry")
        return prefixes

    @property
    def audit(self) -> bool:
        return self.mode == "audit"


# What to write for a required key that is missing (publicKeys has a default, so only this one).
_EXAMPLES = {"allowedRegistries": "[registry.example.com/glm-tts/]"}


# Errors about defaults (e.g. publicKeys missing) carry the Python field name: show the file's key.
_ALIASES = {
    name: field.alias
    for model in (Policy, SignaturePolicy, PublicKey)
    for name, field in model.model_fields.items()
    if field.alias
}


def _where(loc: tuple[Any, ...]) -> str:
    # parse_policy only validates mappings, so every error has a non-empty location.
    text = ""
    for part in (_ALIASES.get(p, p) for p in loc):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at `loc` (the mapping that holds loc[-1]).

    Only a model refuses unknown keys, so every key on the way names a field that holds a model
    (signatures) or a tuple of them (publicKeys, where the next part is the index)."""
    model: Any = Policy
    for part in loc[:-1]:
        if isinstance(part, str):
            field = next(f for n, f in model.model_fields.items() if (f.alias or n) == part)
            model = getattr(field.annotation, "__args__", (field.annotation,))[0]
    return [f.alias or n for n, f in model.model_fields.items()]


def _describe(error: Any) -> str:
    loc, kind, given = tuple(error["loc"]), error["type"], error.get("input")
    where = _where(loc)
    shown = repr(given) if len(repr(given)) <= 80 else repr(given)[:77] + "..."
    if kind == "missing":
        example = _EXAMPLES.get(loc[-1])
        return f"{where}: required" + (f", e.g. {example}" if example else "")
    if kind == "extra_forbidden":
        return f"{where}: unknown key; allowed here: {', '.join(_keys_at(loc))}"
    if kind == "tuple_type":  # every list in the policy is a tuple field
        return f"{where}: expected a list, got {shown}"
    if kind == "bool_type":
        return f"{where}: expected true or false, got {shown}"
    if kind == "literal_error":
        return f"{where}: {shown} is not one of {', '.join(MODES)}"
    if kind == "value_error":
        return f"{where}: {error['ctx']['error']}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{where}: {shown} is out of range ({error['msg'].lower()})"
    return f"{where}: {error['msg'].lower()}, got {shown}"


def parse_policy(data: Any) -> Policy:
    """Validate a policy mapping (the YAML document) into a Policy; PolicyError names every bad key."""
    if not isinstance(data, dict):
        raise PolicyError("the policy must be a YAML mapping with at least allowedRegistries")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError("; ".join(_describe(e) for e in exc.errors())) from None


# --- the decision --------------------------------------------------------------------------------


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
