"""Finished replies nobody reads: the server holds a bounded number of them, not one per client.

Each client asks for a long reply at 0.25x speed (tens of MB of WAV) and never reads a byte.
Clients arrive one after another, each once the previous synthesis is over, so a bound on
syntheses in progress alone does not help: what is bounded must be the replies still held.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
from hostile import memory_kb
from prometheus_client.parser import text_string_to_metric_families

CLIENTS = 16
CAPACITY = 3  # workers 1 + queue_size 2
SECONDS_PER_SEGMENT = 4.0  # 24 groups x 4 s / 0.25 = 384 s of 24 kHz audio: 18 MB of WAV per reply
TEXT = " ".join(f"Sentence number {i} is here." for i in range(24))
RSS_GROWTH_LIMIT = 2.5  # the figure: 36 such clients took RSS from 260 MB to 2.6 GB (10x)


def _processed(url: str) -> float:
    """Syntheses finished plus requests refused as over capacity."""
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "glmtts_real_time_factor_count" or (
                sample.name == "glmtts_rejected_total" and sample.labels.get("reason") == "queue_full"
            ):
                total += sample.value
    return total


def _never_reading_client(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep the kernel from absorbing the reply
    sock.connect((host, int(port)))
    body = json.dumps({"text": TEXT, "speed": 0.25}).encode()
    sock.sendall(
        b"POST /v1/tts HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    return sock


def test_unread_replies_do_not_pile_up_in_memory(start_server_process) -> None:
    server = start_server_process(
        backend="harness.tts_backends:LongToneBackend",
        workers=1,
        queue_size=CAPACITY - 1,
        extra_env={"TTS_TEST_SECONDS_PER_SEGMENT": str(SECONDS_PER_SEGMENT)},
    )
    pid = server.proc.pid
    # One reply read in full first: its size, and the memory a served request leaves behind.
    reply = httpx.post(f"{server.url}/v1/tts", json={"text": TEXT, "speed": 0.25}, timeout=120)
    assert reply.status_code == 200, reply.text
    baseline = memory_kb(pid)["VmRSS"]
    clients = []
    try:
        for _ in range(CLIENTS):
            before = _processed(server.url)
            clients.append(_never_reading_client(server.url))
            deadline = time.monotonic() + 60
            while _processed(server.url) == before and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(0.5)
        held = memory_kb(pid)["VmRSS"]
    finally:
        for sock in clients:
            sock.close()
    growth = held / baseline
    print(
        f"RSS {baseline / 1024:.0f} MiB -> {held / 1024:.0f} MiB with {CLIENTS} clients not reading "
        f"{len(reply.content) / 2**20:.1f} MiB replies ({growth:.2f}x)"
    )
    assert growth < RSS_GROWTH_LIMIT
    # And the server still answers a client that reads.
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
