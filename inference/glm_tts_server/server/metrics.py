"""Prometheus metrics, one registry per app (several apps can live in one test process)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

PREFIX = "glmtts"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
# Real-time factor: synthesis seconds per second of audio; < 1 is faster than real time.
RTF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


class _LiveGauges(Collector):
    """Values read at scrape time from the objects that own them, so they can never go stale."""

    def __init__(
        self,
        queue_depth: Callable[[], int],
        running: Callable[[], int],
        failures: Callable[[], int],
        ready: Callable[[], bool],
        memory_stats: Callable[[], dict[str, int]],
    ):
        self._queue_depth = queue_depth
        self._running = running
        self._failures = failures
        self._ready = ready
        self._memory_stats = memory_stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Syntheses waiting for a worker", value=self._queue_depth()
        )
        yield GaugeMetricFamily(f"{PREFIX}_syntheses_running", "Syntheses running now", value=self._running())
        yield GaugeMetricFamily(
            f"{PREFIX}_consecutive_failures",
            "Synthesis failures since the last success (liveness fails at the threshold)",
            value=self._failures(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_ready",
            "1 when the model is loaded and the pod takes traffic",
            value=int(self._ready()),
        )
        try:
            stats = self._memory_stats()
        except Exception:  # a scrape must never fail because the accelerator is unhappy
            log.exception("reading accelerator memory stats failed")
            stats = {}
        if stats:
            family = GaugeMetricFamily(
                f"{PREFIX}_gpu_memory_bytes",
                "Accelerator memory: allocated, reserved (cached) and total",
                labels=["kind"],
            )
            for kind, value in sorted(stats.items()):
                family.add_metric([kind], value)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "HTTP request latency (to the last byte) by route and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.audio_seconds = Counter(
            f"{PREFIX}_audio_seconds", "Seconds of audio produced", registry=self.registry
        )
        self.rtf = Histogram(
            f"{PREFIX}_real_time_factor",
            "Synthesis time / audio duration per request",
            buckets=RTF_BUCKETS,
            registry=self.registry,
        )
        self.synthesis_failures = Counter(
            f"{PREFIX}_synthesis_failures", "Failed syntheses by reason", ["reason"], registry=self.registry
        )
        self.oom = Counter(
            f"{PREFIX}_out_of_memory", "Accelerator out-of-memory errors", registry=self.registry
        )
        self.rejected = Counter(
            f"{PREFIX}_rejected",
            "Requests refused before synthesis, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.freed_bytes = Counter(
            f"{PREFIX}_cache_freed_bytes", "Accelerator cache bytes released", registry=self.registry
        )
        # Pre-create the label sets dashboards alert on, so they read 0 rather than "no data".
        for reason in ("error", "timeout", "out_of_memory"):
            self.synthesis_failures.labels(reason)
        for reason in ("queue_full", "not_ready"):
            self.rejected.labels(reason)

    def watch(self, **sources: Callable) -> None:
        """Register the scrape-time gauges (see `_LiveGauges` for the sources)."""
        self.registry.register(_LiveGauges(**sources))

    def observe_synthesis(self, audio_s: float, synthesis_s: float) -> None:
        self.audio_seconds.inc(audio_s)
        if audio_s > 0:
            self.rtf.observe(synthesis_s / audio_s)
