"""What the hostile-client tests measure: a server process's memory, and probe latency during an attack.

Figures are limits and ratios against the same server's own baseline, never wall-clock targets.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def error_text(response: httpx.Response) -> str:
    """The message of an error body, in either of the service's envelopes."""
    body = response.json()
    if "error" in body:
        return str(body["error"]["message"])
    return str(body["detail"])


@dataclass
class ProbeLatency:
    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst_s(self) -> float:
        return max(self.samples, default=float("inf"))

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples) if self.samples else float("inf")


# The prober runs in its own process: the attackers' threads in the test process would otherwise
# hold the GIL and slow the probe's client, not the server.
_PROBER = """
import json, select, sys, time, httpx
url, interval = sys.argv[1], float(sys.argv[2])
samples, failures = [], []
print("ready", flush=True)
while not select.select([sys.stdin], [], [], interval)[0]:
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=30)
        if response.status_code != 200:
            failures.append(str(response.status_code))
    except httpx.HTTPError as exc:
        failures.append(repr(exc))
    samples.append(time.perf_counter() - started)
print(json.dumps({"samples": samples, "failures": failures}))
"""


@contextmanager
def probing(url: str, path: str = "/healthz", interval_s: float = 0.02) -> Iterator[ProbeLatency]:
    """GET `url+path` in a loop from another process while the block runs (a fresh connection
    each time, as the kubelet does)."""
    result = ProbeLatency()
    prober = subprocess.Popen(
        [sys.executable, "-c", _PROBER, url + path, str(interval_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert prober.stdout is not None and prober.stdout.readline().strip() == "ready"
        yield result
    finally:
        out, _ = prober.communicate("stop\n", timeout=60)
        measured = json.loads(out)
        result.samples.extend(measured["samples"])
        result.failures.extend(measured["failures"])
