"""`glm-tts-server serve` as Kubernetes runs it: SIGTERM drains, a broken backend exits non-zero."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from conftest import assert_speech, error_message
from glm_tts_server.constants import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH, TTS_PATH

pytestmark = pytest.mark.slow

CONCURRENT = 8


def _gauge(url: str, name: str) -> float:
    for line in httpx.get(f"{url}{METRICS_PATH}", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_sigterm_under_load_finishes_in_flight_work_then_exits(start_server_process):
    drain_timeout = 15.0
    server = start_server_process(
        backend="harness.tts_backends:SlowToneBackend",
        workers=2,
        queue_size=8,
        drain_timeout_s=drain_timeout,
        extra_env={"TTS_TEST_DELAY_S": "0.6"},
    )
    results: list[httpx.Response | Exception] = []

    def speak(n: int) -> None:
        try:
            results.append(
                httpx.post(f"{server.url}{TTS_PATH}", json={"text": f"Request number {n}."}, timeout=30)
            )
        except httpx.HTTPError as exc:
            results.append(exc)

    clients = [threading.Thread(target=speak, args=(n,)) for n in range(CONCURRENT)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 10
    while (
        _gauge(server.url, "glmtts_queue_depth") + _gauge(server.url, "glmtts_syntheses_running")
    ) < CONCURRENT:
        assert time.monotonic() < deadline, "the requests never all reached the queue"
        time.sleep(0.02)

    server.terminate()
    signalled = time.monotonic()
    # The listener stays open while draining: probes see 503 at once, new work is refused.
    ready = httpx.get(f"{server.url}{READYZ_PATH}", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["status"] == "draining"
    assert httpx.get(f"{server.url}{HEALTHZ_PATH}", timeout=5).status_code == 200
    refused = httpx.post(f"{server.url}{TTS_PATH}", json={"text": "Too late."}, timeout=5)
    assert refused.status_code == 503
    assert "shutting down" in error_message(refused)

    for client in clients:
        client.join(30)
    assert server.proc.wait(drain_timeout + 5) == 0, server.log()
    exited_after = time.monotonic() - signalled
    failed = [r for r in results if not isinstance(r, httpx.Response) or r.status_code != 200]
    assert not failed, f"{len(failed)} request(s) failed during the drain: {failed}"
    assert len(results) == CONCURRENT
    for response in results:
        assert_speech(response.content)
    assert exited_after < drain_timeout
    log = server.log()
    assert "draining" in log
    assert '"POST /v1/tts HTTP/1.1" 200' in log
    assert "GET /readyz" not in log and "GET /metrics" not in log, "probes flood the access log"


def test_drain_gives_up_at_the_timeout(start_server_process):
    server = start_server_process(
        backend="harness.tts_backends:SlowToneBackend",
        drain_timeout_s=2,
        extra_env={"TTS_TEST_DELAY_S": "20"},
    )
    stuck = threading.Thread(
        target=lambda: httpx.post(f"{server.url}{TTS_PATH}", json={"text": "Stuck."}, timeout=30), daemon=True
    )
    stuck.start()
    deadline = time.monotonic() + 10
    while _gauge(server.url, "glmtts_syntheses_running") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.terminate()
    started = time.monotonic()
    server.proc.wait(10)
    # the deadline (2 s) plus process teardown, far short of the 20 s the stuck synthesis wants
    assert time.monotonic() - started < 2 + 2.5, server.log()
    assert "drain timeout: 1 request(s) still in flight" in server.log()


def test_a_backend_that_cannot_load_exits_non_zero_with_the_reason(start_server_process):
    server = start_server_process(ready=False, backend="harness.tts_backends:BrokenBackend")
    assert server.proc.wait(30) == 1
    assert "checkpoint ckpt/llm is missing under /models" in server.log()
