"""Per-instance Prometheus metrics, collected in the HTTP process from the pool's own bookkeeping."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from glm_tts_server.pool.backend import InstanceState

PREFIX = "glmtts_instance"
_Family = TypeVar("_Family", GaugeMetricFamily, CounterMetricFamily)


def _family(kind: type[_Family], name: str, documentation: str, *labels: str) -> _Family:
    """A metric family labelled by instance index (and `labels`), named under the prefix."""
    return kind(f"{PREFIX}_{name}", documentation, labels=["instance", *labels])


class InstanceCollector(Collector):
    def __init__(self, instances: Sequence[InstanceState]):
        self._instances = instances

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = _family(GaugeMetricFamily, "up", "1 while the instance's worker process is loaded and serving")
        busy = _family(GaugeMetricFamily, "busy", "1 while the instance runs a synthesis")
        syntheses = _family(
            CounterMetricFamily, "syntheses", "Sentence-group syntheses the instance finished"
        )
        failures = _family(
            CounterMetricFamily,
            "failures",
            "Failed syntheses per instance: error, out_of_memory, died (worker lost)",
            "reason",
        )
        restarts = _family(CounterMetricFamily, "restarts", "Times the instance's worker was restarted")
        memory = _family(
            GaugeMetricFamily,
            "gpu_memory_bytes",
            "Accelerator memory per instance (allocated, reserved, total of its GPU), as of its last request",
            "kind",
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
