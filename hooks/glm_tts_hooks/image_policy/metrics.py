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
        self.decisions = Counter(
            f"{PREFIX}_decisions",
            "Admission decisions by API, verdict (allowed, denied, audited) and first violated rule.",
            ["api", "verdict", "rule"],
            registry=self.registry,
        )
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time to answer an admission request.",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            f"{PREFIX}_signature_cache",
            "Signature verdict look-ups by result (hit, miss, coalesced: shared a concurrent miss).",
            ["result"],
            registry=self.registry,
        )
        self.signature_checks = Counter(
            f"{PREFIX}_signature_checks",
            "Signature verifications against the registry by outcome (verified, unverified, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.registry_errors = Counter(
            f"{PREFIX}_registry_errors",
            "Registry calls that failed (unreachable, timeout, 5xx) by registry host.",
            ["registry"],
            registry=self.registry,
        )
        self.policy_reloads = Counter(
            f"{PREFIX}_policy_reloads",
            "Policy file reloads by result (ok, error: the last good policy stays in force).",
            ["result"],
            registry=self.registry,
        )
        self.certificate_reloads = Counter(
            f"{PREFIX}_certificate_reloads",
            "TLS certificate reloads by result (ok, error: the previous certificate stays in use).",
            ["result"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
