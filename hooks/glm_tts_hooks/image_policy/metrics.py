"""Prometheus metrics of the webhook, on a registry per server (tests run several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

PREFIX = "glm_tts_image_policy"
# Admission latency lives between ~1 ms (cached) and the 5 s webhook timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0)


class WebhookMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = self._counter(
            "decisions",
            ["api", "verdict", "rule"],
            "Admission decisions by API, verdict (allowed, denied, audited) and first violated rule.",
        )
        self.requests = self._counter(
            "http_requests", ["endpoint", "code"], "HTTP requests by endpoint and status code."
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time to answer an admission request.",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = self._counter(
            "signature_cache",
            ["result"],
            "Signature verdict look-ups by result (hit, miss, coalesced: shared a concurrent miss).",
        )
        self.signature_checks = self._counter(
            "signature_checks",
            ["outcome"],
            "Signature verifications against the registry by outcome (verified, unverified, error).",
        )
        self.registry_errors = self._counter(
            "registry_errors",
            ["registry"],
            "Registry calls that failed (unreachable, timeout, 5xx) by registry host.",
        )
        self.policy_reloads = self._counter(
            "policy_reloads",
            ["result"],
            "Policy file reloads by result (ok, error: the last good policy stays in force).",
        )
        self.certificate_reloads = self._counter(
            "certificate_reloads",
            ["result"],
            "TLS certificate reloads by result (ok, error: the previous certificate stays in use).",
        )

    def _counter(self, name: str, labels: list[str], documentation: str) -> Counter:
        return Counter(f"{PREFIX}_{name}", documentation, labels, registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
