"""Per-instance Prometheus metrics, collected in the HTTP process from the pool's own bookkeeping."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from glm_tts_server.pool.backend import InstanceState

PREFIX = "glmtts_instance"


class InstanceCollector(Collector):
    def __init__(self, instances: Sequence[InstanceState]):
        self._instances = instances

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily(
            f"{PREFIX}_up", "1 while the instance's worker process is loaded and serving", labels=["instance"]
        )
        busy = GaugeMetricFamily(
            f"{PREFIX}_busy", "1 while the instance runs a synthesis", labels=["instance"]
        )
        syntheses = CounterMetricFamily(
            f"{PREFIX}_syntheses", "Sentence-group syntheses the instance finished", labels=["instance"]
        )
        failures = CounterMetricFamily(
            f"{PREFIX}_failures",
            "Failed syntheses per instance: error, out_of_memory, died (worker lost)",
            labels=["instance", "reason"],
        )
        restarts = CounterMetricFamily(
            f"{PREFIX}_restarts", "Times the instance's worker was restarted", labels=["instance"]
        )
        memory = GaugeMetricFamily(
            f"{PREFIX}_gpu_memory_bytes",
            "Accelerator memory per instance (allocated, reserved, total of its GPU), as of its last request",
            labels=["instance", "kind"],
        )
        for inst in self._instances:
            label = str(inst.index)
            up.add_metric([label], int(inst.up))
            busy.add_metric([label], int(inst.busy))
            syntheses.add_metric([label], inst.syntheses)
            restarts.add_metric([label], inst.restarts)
            for reason, count in sorted(inst.failures.items()):
                failures.add_metric([label, reason], count)
            for kind, value in sorted(inst.memory.items()):
                memory.add_metric([label, kind], value)
        yield from (up, busy, syntheses, failures, restarts, memory)
