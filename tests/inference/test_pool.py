"""The instance pool with real worker processes: dispatch, streaming, crash and restart, OOM, drain,
per-instance metrics. Worker processes are spawned, so each server here takes a few seconds to start."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import assert_speech, decode
from glm_tts_server.config import ConfigError, Settings, load_settings
from glm_tts_server.constants import METRICS_PATH, TTS_PATH
from glm_tts_server.pool import PooledBackend
from glm_tts_server.pool.backend import InstanceState, gpu_assignment

pytestmark = pytest.mark.slow

PROBE = "harness.tts_backends:PoolProbeBackend"
THREE_SENTENCES = "The first sentence is here. The second one follows it. And this is the third."


def _samples(url: str, name: str) -> dict[str, float]:
    """Every sample of one metric, keyed by its label text (`instance="0"` ...)."""
    out = {}
    for line in httpx.get(f"{url}{METRICS_PATH}", timeout=5).text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            out[labels] = float(value)
    return out


def _per_instance(url: str, name: str, **extra: str) -> list[float]:
    wanted = "".join(f',{k}="{v}"' for k, v in extra.items())
    samples = _samples(url, name)
    return [samples.get(f'instance="{i}"{wanted}', -1.0) for i in range(2)]


def _wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _speak_in_background(
    url: str, texts: list[str]
) -> tuple[list[threading.Thread], dict[str, httpx.Response]]:
    results: dict[str, httpx.Response] = {}

    def speak(text: str) -> None:
        results[text] = httpx.post(f"{url}{TTS_PATH}", json={"text": text}, timeout=60)

    threads = [threading.Thread(target=speak, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    return threads, results


# -- settings and pure helpers ------------------------------------------------------------------
def test_instances_setting_defaults_to_one_and_rejects_zero():
    assert load_settings(env={}).instances == 1
    assert load_settings(env={"GLMTTS_INSTANCES": "3"}).instances == 3
    with pytest.raises(ConfigError, match="GLMTTS_INSTANCES"):
        load_settings(env={"GLMTTS_INSTANCES": "0"})


def test_instances_are_spread_over_the_pods_gpus():
    assert gpu_assignment(3, {}) == [None, None, None]  # one GPU (or CPU): all share it
    assert gpu_assignment(2, {"CUDA_VISIBLE_DEVICES": "3"}) == [None, None]
    assert gpu_assignment(4, {"CUDA_VISIBLE_DEVICES": "2,5"}) == ["2", "5", "2", "5"]
    # The device plugin lists UUIDs; inside the container CUDA numbers them from 0.
    assert gpu_assignment(3, {"NVIDIA_VISIBLE_DEVICES": "GPU-a,GPU-b"}) == ["0", "1", "0"]
    assert gpu_assignment(2, {"NVIDIA_VISIBLE_DEVICES": "all"}) == [None, None]


def test_memory_stats_sum_the_instances_and_count_each_gpu_once():
    pool = PooledBackend(load_settings(env={}), 3, env={"CUDA_VISIBLE_DEVICES": "0,1"})
    memory = {"allocated": 10, "reserved": 20, "total": 1000}
    pool.instances = [InstanceState(i, gpu, memory=dict(memory)) for i, gpu in enumerate(["0", "1", "0"])]
    assert pool.memory_stats() == {"allocated": 30, "reserved": 60, "total": 2000}


def test_workers_do_not_receive_the_http_credentials():
    settings = load_settings(
        env={"GLMTTS_API_KEY": "k1", "GLMTTS_ADMIN_TOKEN": "t1", "GLMTTS_INSTANCES": "2"}
    )
    pool = PooledBackend(settings, settings.instances)
    assert pool.settings.api_key is None and pool.settings.admin_token is None
    assert settings.api_key.get_secret_value() == "k1"  # the HTTP process keeps them


# -- real worker processes ----------------------------------------------------------------------
def _pool_server(start_server, backend: str, **overrides):
    """A threaded server whose backend is a pool of two `backend` workers.

    (The fixture's `backend` argument takes an object; `serve` builds the same pool from
    GLMTTS_INSTANCES, which the drain test below goes through.)"""
    pool = PooledBackend(Settings(backend=backend, log_level="warning"), 2)
    return start_server(backend=pool, instances=2, **overrides)


def test_requests_are_dispatched_to_every_instance(start_server, monkeypatch):
    monkeypatch.setenv("TTS_TEST_DELAY_S", "0.4")
    server = _pool_server(start_server, PROBE, queue_size=8)
    assert server.service.queue.workers == 2  # the queue's concurrency follows the instances
    threads, results = _speak_in_background(server.url, [f"Request number {n}." for n in range(6)])
    # Both instances are seen busy at the same moment, not merely used in turn.
    _wait_for(lambda: _per_instance(server.url, "glmtts_instance_busy") == [1.0, 1.0], "both instances busy")
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in results.values()] == [200] * 6
    for body in (r.content for r in results.values()):
        assert_speech(body)
    done = _per_instance(server.url, "glmtts_instance_syntheses_total")
    assert min(done) >= 1 and sum(done) >= 6, done
    assert _per_instance(server.url, "glmtts_instance_up") == [1.0, 1.0]
    assert _per_instance(server.url, "glmtts_instance_gpu_memory_bytes", kind="total") == [80 * 2**30] * 2
    # The pod-level gauge counts the one GPU once, however many instances share it.
    assert _samples(server.url, "glmtts_gpu_memory_bytes")['kind="total"'] == 80 * 2**30


def test_streaming_crosses_the_process_boundary_sentence_by_sentence(start_server, monkeypatch):
    monkeypatch.setenv("TTS_TEST_DELAY_S", "0.5")
    server = _pool_server(start_server, PROBE)
    before = sum(_per_instance(server.url, "glmtts_instance_syntheses_total"))
    started = time.perf_counter()
    first_chunk_s, body = None, b""
    with httpx.stream(
        "POST", f"{server.url}{TTS_PATH}", json={"text": THREE_SENTENCES, "stream": True}, timeout=60
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            if first_chunk_s is None:
                first_chunk_s = time.perf_counter() - started
            body += chunk
    total_s = time.perf_counter() - started
    # Three sentences at 0.5 s each: the first one is heard before the last is made.
    assert first_chunk_s is not None and first_chunk_s < total_s - 0.5, (first_chunk_s, total_s)
    assert sum(_per_instance(server.url, "glmtts_instance_syntheses_total")) - before == 3
    assert body[:4] == b"RIFF"


def test_espeak_streams_through_the_pool(start_server):
    server = _pool_server(start_server, "espeak")
    with httpx.stream(
        "POST", f"{server.url}{TTS_PATH}", json={"text": THREE_SENTENCES, "stream": True}, timeout=60
    ) as response:
        assert response.status_code == 200
        body = response.read()
    samples, rate = decode(body)
    assert rate == 24000 and len(samples) / rate > 2.0


def test_a_killed_worker_fails_only_its_request_and_is_restarted(start_server, monkeypatch):
    monkeypatch.setenv("TTS_TEST_DELAY_S", "2.0")
    server = _pool_server(start_server, PROBE, failure_threshold=50)
    pool = server.service.backend
    threads, results = _speak_in_background(server.url, ["The victim request.", "The survivor request."])
    _wait_for(lambda: all(inst.busy for inst in pool.instances), "both instances busy")
    victim_pid = pool.instances[0].pid
    os.kill(victim_pid, signal.SIGKILL)
    for thread in threads:
        thread.join(60)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 503], {t: (r.status_code, r.text) for t, r in results.items()}
    lost = next(r for r in results.values() if r.status_code == 503)
    assert "died" in lost.text and "retry" in lost.text and lost.headers["retry-after"]
    assert_speech(next(r for r in results.values() if r.status_code == 200).content)
    _wait_for(lambda: _per_instance(server.url, "glmtts_instance_restarts_total")[0] == 1.0, "the restart")
    assert pool.instances[0].pid != victim_pid
    assert _per_instance(server.url, "glmtts_instance_failures_total", reason="died") == [1.0, 0.0]
    assert _samples(server.url, "glmtts_synthesis_failures_total")['reason="instance_lost"'] == 1.0
    # Both instances serve again.
    threads, results = _speak_in_background(server.url, ["After the restart.", "Also after it."])
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in results.values()] == [200, 200]


def test_out_of_memory_in_a_worker_is_a_503_and_empties_every_instance(start_server, monkeypatch):
    monkeypatch.setenv("TTS_TEST_DELAY_S", "0")
    server = _pool_server(start_server, PROBE)
    response = httpx.post(f"{server.url}{TTS_PATH}", json={"text": "Please exhaust the memory."}, timeout=30)
    assert response.status_code == 503
    assert "out of memory" in response.text
    assert sum(_per_instance(server.url, "glmtts_instance_failures_total", reason="out_of_memory")) == 1.0
    # The worker freed its own cache (1000) and the server then emptied both instances (2 x 1000).
    freed = [
        line
        for line in httpx.get(f"{server.url}{METRICS_PATH}").text.splitlines()
        if line.startswith("glmtts_cache_freed_bytes_total ")
    ]
    assert freed == ["glmtts_cache_freed_bytes_total 2000.0"]
    ok = httpx.post(f"{server.url}{TTS_PATH}", json={"text": "Fine again."}, timeout=30)
    assert ok.status_code == 200


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # exited, waiting to be reaped


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to find the workers")
def test_sigterm_drains_work_in_every_instance_then_stops_the_workers(start_server_process):
    server = start_server_process(
        backend=PROBE, instances=2, queue_size=4, drain_timeout_s=20, extra_env={"TTS_TEST_DELAY_S": "1.5"}
    )
    workers = [pid for pid in _children(server.proc.pid)]
    assert len(workers) >= 2, workers
    threads, results = _speak_in_background(server.url, ["Drain request one.", "Drain request two."])
    _wait_for(lambda: _per_instance(server.url, "glmtts_instance_busy") == [1.0, 1.0], "both instances busy")
    server.terminate()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in results.values()] == [200, 200], server.log()
    for response in results.values():
        assert_speech(response.content)
    assert server.proc.wait(30) == 0, server.log()
    _wait_for(lambda: all(_gone(pid) for pid in workers), "the workers to exit", timeout=10)
