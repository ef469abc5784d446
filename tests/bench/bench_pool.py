#!/usr/bin/env python3
"""Model instances in processes (`GLMTTS_WORKER_PROCESSES`): what a second instance buys and what
the process hop costs, measured in one run.

The backend is eSpeak NG paced to a GPU-like real-time factor and, like the glmtts backend
(upstream keeps global state), it runs one synthesis at a time per process.

- throughput: 8 client threads, 2 instances / 1 instance (goal >= 1.7)
- hop: p50 added milliseconds of one short request through a 1-instance pool over the same
  synthesizer called in this process (goal <= 2 ms)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_service import PacedEspeak  # noqa: E402
from glm_tts_server.config import Settings  # noqa: E402
from glm_tts_server.pool import InstancePool  # noqa: E402
from glm_tts_server.synthesis import build_synthesizer  # noqa: E402

CLIENTS = 8
REQUESTS = 48
ROUNDS = 40
TEXT = "The quick brown fox jumps over the lazy dog near the river bank."
SHORT = "Hello from the benchmark."


class OneAtATimeEspeak(PacedEspeak):
    """Paced eSpeak that, like upstream GLM-TTS, serves one synthesis at a time per process."""

    RTF = 0.2
    _lock = threading.Lock()

    def synthesize(self, segments, options):
        with self._lock:
            return super().synthesize(segments, options)


def _settings(data_dir: str) -> Settings:
    return Settings(backend="bench_pool:OneAtATimeEspeak", data_dir=Path(data_dir))


def throughput(instances: int, data_dir: str) -> float:
    pool = InstancePool(_settings(data_dir), instances)
    pool.start()
    try:
        pool.synthesize(TEXT)
        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as clients:
            list(clients.map(lambda _: pool.synthesize(TEXT), range(REQUESTS)))
        return REQUESTS / (time.perf_counter() - started)
    finally:
        pool.close()


def p50(fn) -> float:
    fn()
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        one, two = throughput(1, data_dir), throughput(2, data_dir)
        direct = build_synthesizer(_settings(data_dir))
        pool = InstancePool(_settings(data_dir), 1)
        pool.start()
        try:
            hop_ms = (p50(lambda: pool.synthesize(SHORT)) - p50(lambda: direct.synthesize(SHORT))) * 1000
        finally:
            pool.close()
    print(
        f"instance pool: throughput at {CLIENTS} clients, 2 instances / 1 instance: {two / one:.2f} "
        f"(goal >= 1.7; {one:.1f} -> {two:.1f} requests/s)"
    )
    print(f"instance pool: process hop p50 {hop_ms:+.2f} ms per request (goal <= 2 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
