"""Load and faults: full queue → 429, timeout → 504, OOM → 503, failures → /healthz 503, loading."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from conftest import assert_speech, error_message, wait_ready
from glm_tts_server.constants import EMPTY_CACHE_PATH, HEALTHZ_PATH, METRICS_PATH, READYZ_PATH, TTS_PATH
from harness.tts_backends import FailingBackend, OomBackend, ToneBackend


def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _metric(client: httpx.Client, name: str, labels: str = "") -> float:
    for line in client.get(METRICS_PATH).text.splitlines():
        if line.startswith(f"{name}{labels} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name}{labels} not exported")


def test_full_queue_answers_429_with_retry_after(start_server):
    server = start_server(backend=ToneBackend(delay_s=1.0), workers=1, queue_size=1)
    queue = server.service.queue
    results: list[httpx.Response] = []

    def speak() -> None:
        with server.client() as client:
            results.append(client.post(TTS_PATH, json={"text": "Occupy a slot."}))

    running = threading.Thread(target=speak)
    running.start()
    _until(lambda: queue.running == 1)
    waiting = threading.Thread(target=speak)
    waiting.start()
    _until(lambda: queue.waiting == 1)
    with server.client() as client:
        assert _metric(client, "glmtts_queue_depth") == 1
        refused = client.post(TTS_PATH, json={"text": "No room for me."})
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "queue is full" in error_message(refused)
        assert _metric(client, "glmtts_rejected_total", '{reason="queue_full"}') == 1
    running.join()
    waiting.join()
    assert [r.status_code for r in results] == [200, 200]  # admitted work is never dropped
    with server.client() as client:
        assert client.post(TTS_PATH, json={"text": "Room again."}).status_code == 200


def test_timeout_is_504_and_counts_as_a_failure(start_server):
    server = start_server(backend=ToneBackend(delay_s=1.0), request_timeout_s=0.2, failure_threshold=5)
    with server.client() as client:
        response = client.post(TTS_PATH, json={"text": "Too slow."})
        assert response.status_code == 504
        assert "longer than 0.2 s" in error_message(response)
        assert client.get(HEALTHZ_PATH).json()["consecutive_failures"] == 1
        assert _metric(client, "glmtts_synthesis_failures_total", '{reason="timeout"}') == 1


def test_out_of_memory_empties_the_cache_and_answers_503(start_server):
    backend = OomBackend()
    server = start_server(backend=backend)
    backend.oom = True
    with server.client() as client:
        response = client.post(TTS_PATH, json={"text": "Too big for the GPU."})
        assert response.status_code == 503
        assert "ran out of memory" in error_message(response)
        assert "Retry-After" in response.headers
        assert backend.empty_cache_calls == 1
        assert _metric(client, "glmtts_out_of_memory_total") == 1
        assert _metric(client, "glmtts_gpu_memory_bytes", '{kind="reserved"}') == 4096
        backend.oom = False
        assert client.post(TTS_PATH, json={"text": "Fits now."}).status_code == 200


def test_consecutive_failures_turn_healthz_red_and_a_success_resets(start_server):
    backend = FailingBackend()
    server = start_server(backend=backend, failure_threshold=3)
    backend.healthy = False
    with server.client() as client:
        for expected in (1, 2, 3):
            response = client.post(TTS_PATH, json={"text": "Fail."})
            assert response.status_code == 500
            assert "fell off the bus" in error_message(response)
            health = client.get(HEALTHZ_PATH)
            assert health.json()["consecutive_failures"] == expected
        assert health.status_code == 503
        assert "3 consecutive synthesis failures" in health.json()["detail"]
        assert _metric(client, "glmtts_consecutive_failures") == 3
        backend.healthy = True
        assert client.post(TTS_PATH, json={"text": "Better."}).status_code == 200
        health = client.get(HEALTHZ_PATH)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "consecutive_failures": 0}


def test_not_ready_while_loading_then_ready(start_server):
    server = start_server(backend=ToneBackend(load_s=1.5), ready=False)
    with server.client() as client:
        ready = client.get(READYZ_PATH)
        assert ready.status_code == 503
        assert ready.json()["status"] == "loading"
        assert client.get(HEALTHZ_PATH).status_code == 200  # alive while loading: no restart loop
        early = client.post(TTS_PATH, json={"text": "Too early."})
        assert early.status_code == 503
        assert "not ready" in error_message(early)
        wait_ready(server.url)
        assert client.get(READYZ_PATH).json() == {"status": "ready"}
        assert client.post(TTS_PATH, json={"text": "Now."}).status_code == 200


def test_metrics_count_requests_latency_and_audio(start_server):
    server = start_server()
    with server.client() as client:
        spoken = client.post(TTS_PATH, json={"text": "Count me."})
        client.post(TTS_PATH, json={"text": ""})
        text = client.get(METRICS_PATH).text
        audio_s = _metric(client, "glmtts_audio_seconds_total")
    assert_speech(spoken.content)
    assert 'glmtts_http_requests_total{method="POST",route="/v1/tts",status="200"} 1.0' in text
    assert 'glmtts_http_requests_total{method="POST",route="/v1/tts",status="422"} 1.0' in text
    assert (
        'glmtts_http_request_duration_seconds_count{method="POST",route="/v1/tts",status="200"} 1.0' in text
    )
    assert "glmtts_real_time_factor_count 1.0" in text
    assert audio_s == pytest.approx(float(spoken.headers["X-Audio-Duration-Seconds"]), abs=1e-3)
    assert "glmtts_ready 1.0" in text
    assert "glmtts_gpu_memory_bytes" not in text  # CPU backend: no GPU gauges


def test_empty_cache_reports_zero_bytes_on_cpu(start_server):
    server = start_server(admin_token="s3cret-admin")
    with server.client() as client:
        response = client.post(EMPTY_CACHE_PATH, headers={"Authorization": "Bearer s3cret-admin"})
    assert response.status_code == 200, response.text
    assert response.json() == {"freed_bytes": 0, "memory": {}}


def test_metric_labels_use_route_templates_not_raw_paths(start_server):
    server = start_server()
    with server.client() as client:
        for n in range(3):
            client.get(f"/no/such/path/{n}")
            client.get(f"/v1/batch/{n:032x}")
        text = client.get(METRICS_PATH).text
    assert 'route="unmatched",status="404"} 3.0' in text
    assert 'route="/v1/batch/{batch_id}",status="404"} 3.0' in text
    assert "/no/such/path" not in text  # scanners cannot blow up the series count
