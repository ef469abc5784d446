"""The service over an instance pool (GLMTTS_WORKER_PROCESSES=true): every route works as with
in-process workers, per-instance metrics, a dying instance answered with 503, drain with work in
every instance."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from conftest import assert_speech
from glm_tts_server.constants import TTS_PATH
from hostile import error_text


def _metric(client: httpx.Client, name: str) -> dict[str, float]:
    values = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            values[labels[len(name) :]] = float(value)
    return values


def test_requests_and_streams_run_on_every_instance(start_server) -> None:
    server = start_server(workers=2, worker_processes=True)
    texts = [f"Request number {n} through the instance pool." for n in range(6)]
    with server.client() as client:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda t: client.post(TTS_PATH, json={"text": t}), texts))
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert_speech(answer.content, min_s=1.0)
        stream = client.post(TTS_PATH, json={"text": "One sentence. And another.", "stream": True})
        assert stream.status_code == 200
        assert len(stream.content) > 44 + 24000  # the WAV header and more than half a second of PCM
        done = _metric(client, "glmtts_instance_syntheses_total")
    assert set(done) == {'{instance="0"}', '{instance="1"}'}
    assert sum(done.values()) == 7 and min(done.values()) >= 1


def test_a_dying_instance_gets_a_503_and_comes_back(start_server_process) -> None:
    server = start_server_process(
        backend="harness.tts_backends:ExitingToneBackend", workers=1, worker_processes="true"
    )
    with httpx.Client(base_url=server.url, timeout=60) as client:
        died = client.post(TTS_PATH, json={"text": "Please exit now."})
        assert died.status_code == 503 and died.headers["Retry-After"] == "1"
        assert "exited (code 3)" in error_text(died) and "retry" in error_text(died)
        assert client.post(TTS_PATH, json={"text": "Back again."}).status_code == 200
        assert _metric(client, "glmtts_instance_restarts_total") == {'{instance="0"}': 1.0}
        assert client.get("/healthz").status_code == 200


def test_sigterm_finishes_the_work_of_every_instance(start_server_process) -> None:
    server = start_server_process(
        backend="harness.tts_backends:SlowToneBackend",
        workers=2,
        worker_processes="true",
        drain_timeout_s=20,
        extra_env={"TTS_TEST_DELAY_S": "1.0"},
    )
    results: list[httpx.Response | Exception] = []

    def speak(n: int) -> None:
        try:
            results.append(httpx.post(f"{server.url}{TTS_PATH}", json={"text": f"Request {n}."}, timeout=60))
        except httpx.HTTPError as exc:
            results.append(exc)

    clients = [threading.Thread(target=speak, args=(n,)) for n in range(4)]
    for client in clients:
        client.start()
    with httpx.Client(base_url=server.url) as probe:
        deadline = time.monotonic() + 30
        while sum(_metric(probe, "glmtts_instance_busy").values()) < 2:
            assert time.monotonic() < deadline, "the instances never both got work"
            time.sleep(0.02)
    server.terminate()
    for client in clients:
        client.join(60)
    assert server.proc.wait(30) == 0, server.log()
    assert [r.status_code if isinstance(r, httpx.Response) else r for r in results] == [200] * 4
