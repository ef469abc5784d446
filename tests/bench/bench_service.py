#!/usr/bin/env python3
"""What the HTTP service costs on top of synthesis, measured in one run (eSpeak NG backend).

The server is `glm-tts-server serve` in a subprocess on loopback; "direct" is the same
Synthesizer called in this process, plus the same WAV encoding the server does.

- latency: one client, a 500-character text, p50 through the server / p50 direct (target <= 1.05)
- overhead: p50 added milliseconds for a one-sentence text
- throughput: 8 concurrent clients through the server / 8 threads calling directly with the
  same number of workers (target >= 0.95)
- streaming: time to the first audio byte / time to the whole response, 10 sentences (target <= 0.2)
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from glm_tts_server.audio import encode
from glm_tts_server.config import Settings
from glm_tts_server.synthesis import build_synthesizer

WORKERS = 2
CLIENTS = 8
ROUNDS = 15
PER_CLIENT = 6
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
LONG_TEXT = " ".join([SENTENCE] * 8)[:500]
SHORT_TEXT = "Hello from the benchmark."
TEN_SENTENCES = " ".join(f"This is sentence number {n} of the streaming test." for n in range(1, 11))
MEDIUM_TEXT = " ".join([SENTENCE] * 3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLMTTS_")}
    env.update(GLMTTS_BACKEND="espeak", GLMTTS_HOST="127.0.0.1", GLMTTS_PORT=str(port),
               GLMTTS_WORKERS=str(WORKERS), GLMTTS_QUEUE_SIZE="64", GLMTTS_DATA_DIR=str(data_dir),
               GLMTTS_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "glm_tts_server.cli", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not become ready")


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn, rounds: int = ROUNDS) -> list[float]:
    fn()  # warm caches and connections
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    synthesizer = build_synthesizer(Settings(backend="espeak", max_input_chars=2000))

    def direct(text: str) -> bytes:
        return encode(synthesizer.synthesize(text), "wav")

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                def served(text: str) -> bytes:
                    response = client.post("/v1/tts", json={"text": text})
                    response.raise_for_status()
                    return response.content

                # Interleave server and direct rounds so machine noise hits both alike.
                long_server, long_direct, short_server, short_direct = [], [], [], []
                for _ in range(3):
                    long_server += timed(lambda: served(LONG_TEXT), ROUNDS // 3)
                    long_direct += timed(lambda: direct(LONG_TEXT), ROUNDS // 3)
                    short_server += timed(lambda: served(SHORT_TEXT), ROUNDS // 3)
                    short_direct += timed(lambda: direct(SHORT_TEXT), ROUNDS // 3)

                ttfb, totals = [], []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    first = None
                    with client.stream("POST", "/v1/tts", json={"text": TEN_SENTENCES, "stream": True}) as r:
                        r.raise_for_status()
                        for _chunk in r.iter_raw():
                            if first is None:
                                first = time.perf_counter() - started
                    totals.append(time.perf_counter() - started)
                    ttfb.append(first)

            jobs = CLIENTS * PER_CLIENT

            def one_client(_: int) -> None:
                with httpx.Client(base_url=url, timeout=60) as c:
                    for _ in range(PER_CLIENT):
                        c.post("/v1/tts", json={"text": MEDIUM_TEXT}).raise_for_status()

            one_client(0)
            started = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                list(pool.map(one_client, range(CLIENTS)))
            server_tput = jobs / (time.perf_counter() - started)

            started = time.perf_counter()
            with ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(lambda _: direct(MEDIUM_TEXT), range(jobs)))
            direct_tput = jobs / (time.perf_counter() - started)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)

    latency_ratio = p50(long_server) / p50(long_direct)
    overhead_ms = (p50(short_server) - p50(short_direct)) * 1000
    tput_ratio = server_tput / direct_tput
    stream_ratio = p50(ttfb) / p50(totals)
    print(f"500-char text, 1 client: p50 server {p50(long_server) * 1000:.1f} ms, direct "
          f"{p50(long_direct) * 1000:.1f} ms -> latency ratio {latency_ratio:.3f} (target <= 1.05)")
    print(f"one sentence: p50 server {p50(short_server) * 1000:.2f} ms, direct "
          f"{p50(short_direct) * 1000:.2f} ms -> {overhead_ms:.2f} ms added per request")
    print(f"{CLIENTS} clients x {PER_CLIENT} requests, {WORKERS} workers: server {server_tput:.1f} req/s, "
          f"direct {direct_tput:.1f} req/s -> throughput ratio {tput_ratio:.3f} (target >= 0.95)")
    print(f"streaming 10 sentences: p50 first byte {p50(ttfb) * 1000:.1f} ms of {p50(totals) * 1000:.1f} ms "
          f"-> TTFB ratio {stream_ratio:.3f} (target <= 0.2)")
    print(f"machine: {os.cpu_count()} CPU(s); server and client share them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
