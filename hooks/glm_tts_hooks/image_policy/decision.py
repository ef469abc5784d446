"""One admission decision: the pure policy rules, then cosign signatures for the images that pass them."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from glm_tts_hooks.image_policy.cache import HIT, MISS, NEGATIVE_TTL_CAP_SECONDS, VerdictCache
from glm_tts_hooks.image_policy.metrics import WebhookMetrics
from glm_tts_hooks.image_policy.policy import (
    RULE_SIGNATURE,
    RULES,
    Policy,
    PolicyStore,
    Violation,
    evaluate_image,
    is_exempt,
)
from glm_tts_hooks.image_policy.reference import parse_reference
from glm_tts_hooks.image_policy.registry import Deadline, RegistryUnavailable
from glm_tts_hooks.image_policy.signatures import SignatureVerdict, SignatureVerifier

log = logging.getLogger(__name__)

CONTAINER = "container"
INIT_CONTAINER = "init container"
EPHEMERAL_CONTAINER = "ephemeral container"


@dataclass(frozen=True)
class ContainerImage:
    kind: str  # CONTAINER, INIT_CONTAINER or EPHEMERAL_CONTAINER
    name: str
    image: str

    def describe(self) -> str:
        return f"{self.kind} {self.name!r}"


@dataclass(frozen=True)
class Finding:
    container: ContainerImage
    violation: Violation

    def describe(self) -> str:
        return f"{self.container.describe()}: {self.violation.describe()}"


@dataclass
class Decision:
    allowed: bool
    audit: bool = False
    exempt: bool = False
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # admitted, but worth a warning (fail-open)

    @property
    def rule(self) -> str | None:
        return self.findings[0].violation.rule if self.findings else None

    def message(self) -> str:
        if not self.findings:
            return "all images satisfy the image policy"
        return "image policy: " + "; ".join(f.describe() for f in self.findings)


class Decider:
    """Thread-safe; one per server. Signature checks of one request run in parallel under one deadline."""

    def __init__(
        self,
        policies: PolicyStore,
        verifier: SignatureVerifier,
        metrics: WebhookMetrics,
        cache: VerdictCache[SignatureVerdict] | None = None,
        workers: int = 16,
    ) -> None:
        self.policies = policies
        self.verifier = verifier
        self.metrics = metrics
        # Not `cache or ...`: an empty VerdictCache is falsy (it has __len__) and would be replaced.
        self.cache: VerdictCache[SignatureVerdict] = VerdictCache() if cache is None else cache
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signature")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def decide(self, namespace: str | None, containers: list[ContainerImage]) -> Decision:
        policy = self.policies.current()
        if is_exempt(namespace, policy):
            return Decision(allowed=True, audit=policy.audit, exempt=True)

        violations = {
            image: evaluate_image(image, policy) for image in dict.fromkeys(c.image for c in containers)
        }
        notes: list[str] = []
        if policy.signatures.required:
            self._check_signatures(policy, violations, notes)

        findings = [Finding(c, v) for c in containers for v in violations[c.image]]
        findings.sort(key=lambda f: RULES.index(f.violation.rule))
        return Decision(
            allowed=not findings or policy.audit, audit=policy.audit, findings=findings, notes=notes
        )

    def _check_signatures(
        self, policy: Policy, violations: dict[str, list[Violation]], notes: list[str]
    ) -> None:
        # Only registries on the allow-list are ever contacted: a pod spec must not make the
        # webhook fetch from arbitrary hosts.
        pending = []
        for image, found in violations.items():
            if found:  # already refused (or, in audit mode, already reported) on a cheaper rule
                continue
            ref = parse_reference(image)  # valid: an invalid reference is always found above
            if not ref.is_sha256_pinned:
                found.append(
                    Violation(
                        RULE_SIGNATURE,
                        f"image {image!r} has no digest, so its signature cannot be checked",
                        f"pin by digest: {ref.pinned('sha256:<digest>')}",
                    )
                )
                continue
            pending.append((image, ref))
        if not pending:
            return

        self.verifier.registry.insecure_registries = policy.signatures.insecure_hosts
        deadline = Deadline(policy.signatures.timeout_seconds)
        keys = policy.signatures.public_keys
        key_ids = tuple(sorted(k.fingerprint for k in keys))
        ttl = policy.signatures.cache_ttl_seconds

        def verify(ref):
            return self.verifier.verify(ref, keys, deadline)

        def keep(verdict: SignatureVerdict) -> float:
            return ttl if verdict.verified else min(ttl, NEGATIVE_TTL_CAP_SECONDS)

        def check(item):
            image, ref = item
            try:
                verdict, source = self.cache.get_or_compute(
                    (ref.name, ref.digest, key_ids), lambda: verify(ref), keep
                )
            except RegistryUnavailable as exc:
                self.metrics.registry_errors.labels(ref.registry).inc()
                self.metrics.signature_checks.labels("error").inc()
                return image, ref, None, str(exc)
            self.metrics.cache.labels(source).inc()
            if source == MISS:  # this thread asked the registry
                self.metrics.signature_checks.labels("verified" if verdict.verified else "unverified").inc()
            return image, ref, verdict, None

        # Cached verdicts are answered in this thread; only misses go to the registry, in parallel.
        results, misses = [], []
        for image, ref in pending:
            verdict = self.cache.get((ref.name, ref.digest, key_ids))
            if verdict is None:
                misses.append((image, ref))
            else:
                self.metrics.cache.labels(HIT).inc()
                results.append((image, ref, verdict, None))
        if len(misses) == 1:
            results.append(check(misses[0]))
        elif misses:
            results.extend(self._executor.map(check, misses))

        for image, ref, verdict, error in results:
            if error is not None:
                if policy.signatures.fail_open:
                    notes.append(f"signature of {image!r} not checked (failOpen): {error}")
                    log.warning("fail-open: admitting %s unchecked: %s", image, error)
                    continue
                violations[image].append(
                    Violation(
                        RULE_SIGNATURE,
                        f"the signature of image {image!r} could not be checked: {error}",
                        "make the registry reachable from the webhook (or set signatures.failOpen: true)",
                    )
                )
            elif verdict is not None and not verdict.verified:
                names = ", ".join(k.name for k in keys)
                violations[image].append(
                    Violation(
                        RULE_SIGNATURE,
                        f"image {image!r} has no valid cosign signature: {verdict.reason}",
                        f"sign it in the pipeline: cosign sign --key <{names} key> {ref.name}@{ref.digest}",
                    )
                )
