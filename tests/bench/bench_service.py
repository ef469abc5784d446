#!/usr/bin/env python3
"""What the HTTP service costs on top of synthesis, measured in one run (eSpeak NG backend,
as is and paced to a GPU-like real-time factor).

The server is `glm-tts-server serve` in a subprocess on loopback; "direct" is the same
Synthesizer called in this process, plus the same WAV encoding the server does.

- latency: one client, a 500-character text, p50 through the server / p50 direct (target <= 1.05)
- overhead: p50 added milliseconds for a one-sentence text
- throughput: 8 concurrent clients through the server / 8 threads calling directly with the
  same number of workers (target >= 0.95)
- streaming: time to the first audio byte / time to the whole response, 10 sentences (target <= 0.2)
- OpenAI API, mp3: a 500-character text through `/v1/audio/speech` (streamed, encoded sentence by
  sentence) / synthesis plus one mp3 encoding of the whole audio, direct (target <= 1.05)
- encoding: CPU milliseconds per second of audio for each response format (mp3 target <= 10 ms,
  i.e. at least 100x faster than real time)
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
from glm_tts_server.backends.espeak import EspeakBackend
from glm_tts_server.config import Settings
from glm_tts_server.encoding import FORMATS
from glm_tts_server.encoding import encode as encode_format
from glm_tts_server.synthesis import build_synthesizer

HERE = Path(__file__).resolve().parent
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


def launch_server(data_dir: Path, backend: str, **settings: str) -> tuple[subprocess.Popen, str]:
    """`glm-tts-server serve` on a free loopback port, not yet ready; `settings` are GLMTTS_* overrides."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLMTTS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env.update(
        GLMTTS_BACKEND=backend,
        GLMTTS_HOST="127.0.0.1",
        GLMTTS_PORT=str(port),
        GLMTTS_WORKERS=str(WORKERS),
        GLMTTS_QUEUE_SIZE="64",
        GLMTTS_DATA_DIR=str(data_dir),
        GLMTTS_LOG_LEVEL="warning",
    )
    env.update({f"GLMTTS_{key.upper()}": value for key, value in settings.items()})
    proc = subprocess.Popen([sys.executable, "-m", "glm_tts_server.cli", "serve"], env=env)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def start_server(data_dir: Path, backend: str) -> tuple[subprocess.Popen, str]:
    proc, url = launch_server(data_dir, backend)
    try:
        wait_ready(url)
    except RuntimeError:
        proc.kill()
        raise
    return proc, url


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


class PacedEspeak(EspeakBackend):
    """eSpeak NG slowed to a fixed real-time factor: a stand-in for a GPU model's cost.

    eSpeak takes ~1.5 ms per second of audio, so any HTTP cost looks large next to it; GLM-TTS
    on a GPU is two orders of magnitude slower. Sleeping releases the GIL like CUDA waits do.
    """

    RTF = 0.02

    def __init__(self, settings: Settings | None = None):
        super().__init__(sample_rate=settings.sample_rate if settings else 24000)

    def synthesize(self, segments, options):
        started = time.perf_counter()
        audio = super().synthesize(segments, options)
        time.sleep(max(0.0, self.RTF * audio.duration_s - (time.perf_counter() - started)))
        return audio


def measure(backend: str, rounds: int) -> dict[str, float]:
    synthesizer = build_synthesizer(Settings(backend=backend, max_input_chars=2000))

    def direct(text: str) -> bytes:
        return encode(synthesizer.synthesize(text), "wav")

    def direct_mp3(text: str) -> bytes:
        audio = synthesizer.synthesize(text)
        return encode_format(audio.samples, audio.sample_rate, "mp3")

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), backend)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:

                def served(text: str) -> bytes:
                    response = client.post("/v1/tts", json={"text": text})
                    response.raise_for_status()
                    return response.content

                # Interleave server and direct rounds so machine noise hits both alike.
                def served_mp3(text: str) -> bytes:
                    response = client.post("/v1/audio/speech", json={"model": "glm-tts", "input": text})
                    response.raise_for_status()
                    return response.content

                long_server, long_direct, short_server, short_direct = [], [], [], []
                mp3_server, mp3_direct = [], []
                for _ in range(3):
                    long_server += timed(lambda: served(LONG_TEXT), rounds // 3)
                    long_direct += timed(lambda: direct(LONG_TEXT), rounds // 3)
                    short_server += timed(lambda: served(SHORT_TEXT), rounds // 3)
                    short_direct += timed(lambda: direct(SHORT_TEXT), rounds // 3)
                    mp3_server += timed(lambda: served_mp3(LONG_TEXT), rounds // 3)
                    mp3_direct += timed(lambda: direct_mp3(LONG_TEXT), rounds // 3)

                ttfb, totals = [], []
                request = {"text": TEN_SENTENCES, "stream": True}
                for _ in range(rounds):
                    started = time.perf_counter()
                    first = None
                    with client.stream("POST", "/v1/tts", json=request) as response:
                        response.raise_for_status()
                        for _chunk in response.iter_raw():
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
    return {
        "long_server_ms": p50(long_server) * 1000,
        "long_direct_ms": p50(long_direct) * 1000,
        "short_server_ms": p50(short_server) * 1000,
        "short_direct_ms": p50(short_direct) * 1000,
        "server_tput": server_tput,
        "direct_tput": direct_tput,
        "ttfb_ms": p50(ttfb) * 1000,
        "total_ms": p50(totals) * 1000,
        "mp3_server_ms": p50(mp3_server) * 1000,
        "mp3_direct_ms": p50(mp3_direct) * 1000,
    }


def report(label: str, m: dict[str, float]) -> None:
    latency = m["long_server_ms"] / m["long_direct_ms"]
    added = m["short_server_ms"] - m["short_direct_ms"]
    throughput = m["server_tput"] / m["direct_tput"]
    ttfb = m["ttfb_ms"] / m["total_ms"]
    print(f"--- {label}")
    print(
        f"500-char text, 1 client: p50 server {m['long_server_ms']:.1f} ms, "
        f"direct {m['long_direct_ms']:.1f} ms -> latency ratio {latency:.3f} (target <= 1.05)"
    )
    print(
        f"one sentence: p50 server {m['short_server_ms']:.2f} ms, direct {m['short_direct_ms']:.2f} ms "
        f"-> {added:.2f} ms added per request"
    )
    print(
        f"{CLIENTS} clients x {PER_CLIENT} requests, {WORKERS} workers: server {m['server_tput']:.1f} "
        f"req/s, direct {m['direct_tput']:.1f} req/s -> throughput ratio {throughput:.3f} (target >= 0.95)"
    )
    print(
        f"streaming 10 sentences: p50 first byte {m['ttfb_ms']:.1f} ms of {m['total_ms']:.1f} ms "
        f"-> TTFB ratio {ttfb:.3f} (target <= 0.2)"
    )
    mp3 = m["mp3_server_ms"] / m["mp3_direct_ms"]
    print(
        f"OpenAI API, mp3, 500-char text: p50 server {m['mp3_server_ms']:.1f} ms, direct "
        f"{m['mp3_direct_ms']:.1f} ms -> latency ratio {mp3:.3f} (target <= 1.05)"
    )


def encoding_cost() -> None:
    """CPU time per second of audio for each format, on 10+ s of real eSpeak NG speech."""
    synthesizer = build_synthesizer(Settings(backend="espeak"))
    audio = synthesizer.synthesize(" ".join([SENTENCE] * 4))
    print(f"--- encoding {audio.duration_s:.1f} s of speech at {audio.sample_rate} Hz (CPU time, p50 of 7)")
    for fmt in FORMATS:
        encode_format(audio.samples, audio.sample_rate, fmt)  # load the codec
        costs = []
        for _ in range(7):
            started = time.process_time()
            encode_format(audio.samples, audio.sample_rate, fmt)
            costs.append(time.process_time() - started)
        per_second_ms = p50(costs) / audio.duration_s * 1000
        target = " (target <= 10 ms)" if fmt == "mp3" else ""
        speedup = 1000 / max(per_second_ms, 1e-6)
        print(f"{fmt:>5}: {per_second_ms:6.2f} ms per second of audio -> {speedup:7.0f}x real time{target}")


def main() -> int:
    print(f"{os.cpu_count()} CPU(s), shared by the server, the clients and the direct calls")
    encoding_cost()
    report("eSpeak NG as is (RTF ~0.0015: HTTP costs are at their most visible)", measure("espeak", ROUNDS))
    report(
        f"eSpeak NG paced to RTF {PacedEspeak.RTF} (a stand-in for a GPU model's cost)",
        measure("bench_service:PacedEspeak", 6),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
