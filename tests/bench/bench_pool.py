#!/usr/bin/env python3
"""Several model instances per pod (GLMTTS_INSTANCES), measured in one run with eSpeak NG paced to a
model-like cost (bench_service.PacedEspeak: the paced time is a sleep, as a process waits on its GPU).

- throughput: 8 concurrent clients against a server with 1 instance (today's in-process backend,
  one synthesis at a time as on a GPU) and one with 2 worker processes; ratio 2/1 (target >= 1.7).
  Both servers run side by side and the rounds alternate, so machine noise hits both alike.
- process hop: for one short synthesize() through a 1-worker pool, the caller's wait minus the
  synthesis time measured inside the worker (plain eSpeak, so the hop is not hidden in the
  pacing); target <= 2 ms per call. Also p50 through the pool vs in process, for comparison.
  A request pays one hop per sentence group.

What this does not model: instances sharing one GPU also share its compute, so on a real GPU the
gain per added instance is smaller once the GPU is busy (see inference/README.md).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from bench_service import MEDIUM_TEXT, PacedEspeak, launch_server, wait_ready
from glm_tts_server.backends.base import Segment, SynthesisOptions
from glm_tts_server.backends.espeak import EspeakBackend
from glm_tts_server.config import Settings
from glm_tts_server.pool import PooledBackend

HERE = Path(__file__).resolve().parent
CLIENTS = 8
PER_CLIENT = 2
ROUNDS = 3
HOP_CALLS = 300
HOP_TEXT = [Segment("Hello there.", "en")]
PACED = "bench_pool:ModelPacedEspeak"


class ModelPacedEspeak(PacedEspeak):
    """PacedEspeak at RTF 0.1: GLM-TTS runs at RTF 0.6-0.75 on a GPU, so this still gives the CPU a
    share of each request several times larger than the real model does; at RTF 0.02 a loaded
    2-core machine spends the whole pace on eSpeak itself and nothing is left to overlap."""

    RTF = 0.1


def start_server(data_dir: Path, instances: int) -> tuple[subprocess.Popen, str]:
    return launch_server(data_dir, PACED, workers="1", instances=str(instances))


def throughput(url: str) -> float:
    def one_client(_: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(PER_CLIENT):
                client.post("/v1/tts", json={"text": MEDIUM_TEXT}).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one_client, range(CLIENTS)))
    return CLIENTS * PER_CLIENT / (time.perf_counter() - started)


class StampedEspeak(EspeakBackend):
    """eSpeak NG that reports how long its own synthesize() took, measured inside the worker."""

    def __init__(self, settings: Settings | None = None):
        super().__init__(sample_rate=settings.sample_rate if settings else 24000)

    def synthesize(self, segments, options):
        started = time.perf_counter()
        audio = super().synthesize(segments, options)
        audio.metadata["backend_s"] = time.perf_counter() - started
        return audio


def hop_ms() -> dict[str, float]:
    """The process hop, two ways, for one short sentence (plain eSpeak, not paced).

    - per call: the caller's wait minus the synthesis time measured inside the worker, in the
      same call, so machine load hits both sides of the subtraction alike;
    - against in-process calls: p50 through a 1-worker pool minus p50 of the same backend called
      in this process (interleaved blocks); includes the other process's wake-ups under load.
    """
    settings = Settings(backend="bench_pool:StampedEspeak", log_level="warning")
    direct = StampedEspeak(settings)
    direct.load()
    pooled = PooledBackend(settings, 1)
    pooled.load()
    options = SynthesisOptions()
    hops, through, local = [], [], []
    try:
        for backend in (pooled, direct):  # warm both
            backend.synthesize(HOP_TEXT, options)
        for _ in range(HOP_CALLS // 10):  # interleave blocks so load spikes hit both alike
            for _ in range(10):
                started = time.perf_counter()
                audio = pooled.synthesize(HOP_TEXT, options)
                waited = time.perf_counter() - started
                through.append(waited)
                hops.append(waited - audio.metadata["backend_s"])
            for _ in range(10):
                started = time.perf_counter()
                direct.synthesize(HOP_TEXT, options)
                local.append(time.perf_counter() - started)
    finally:
        pooled.unload()
    p50 = statistics.median
    return {
        "hop": p50(hops) * 1000,
        "p95_hop": statistics.quantiles(hops, n=20)[-1] * 1000,
        "through": p50(through) * 1000,
        "local": p50(local) * 1000,
    }


def main() -> int:
    print(f"{os.cpu_count()} CPU(s); load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        servers = {n: start_server(Path(tmp) / f"data{n}", n) for n in (1, 2)}
        try:
            for _proc, url in servers.values():
                wait_ready(url, timeout=120)  # each instance spawns and loads its backend
            tputs: dict[int, list[float]] = {1: [], 2: []}
            for _proc, url in servers.values():
                throughput(url)  # warm
            for _ in range(ROUNDS):
                for n, (_proc, url) in servers.items():
                    tputs[n].append(throughput(url))
        finally:
            for proc, _url in servers.values():
                proc.send_signal(signal.SIGTERM)
            for proc, _url in servers.values():
                proc.wait(60)
    one, two = statistics.median(tputs[1]), statistics.median(tputs[2])
    hop = hop_ms()
    print(
        f"eSpeak NG paced to RTF {ModelPacedEspeak.RTF}; {CLIENTS} clients x {PER_CLIENT} requests "
        f"of 3 sentences, median of {ROUNDS} alternating rounds"
    )
    print(
        f"1 instance: {one:.2f} req/s; 2 instances: {two:.2f} req/s -> throughput ratio {two / one:.2f} "
        "(target >= 1.7)"
    )
    print(
        f"process hop per call (caller's wait - synthesis time inside the worker), one short sentence: "
        f"p50 {hop['hop']:.2f} ms, p95 {hop['p95_hop']:.2f} ms (target <= 2 ms)"
    )
    print(
        f"same sentence, p50 through a worker {hop['through']:.2f} ms vs in process {hop['local']:.2f} ms "
        f"-> {hop['through'] - hop['local']:.2f} ms (adds the other process's wake-ups under load)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
