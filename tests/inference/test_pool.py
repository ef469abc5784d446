"""Model instances in worker processes: dispatch, errors across the process boundary, a worker
that dies mid-request (restarted, the request answered with InstanceCrashed), shutdown."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from glm_tts_server.config import Settings
from glm_tts_server.pool import InstanceCrashed, InstancePool
from glm_tts_server.synthesis import InvalidText

START_TIMEOUT_S = 120.0


def _pool(tmp_path: Path, backend: str, instances: int) -> InstancePool:
    pool = InstancePool(
        Settings(backend=backend, data_dir=tmp_path), instances, start_timeout_s=START_TIMEOUT_S
    )
    pool.start()
    return pool


@pytest.fixture
def espeak_pool(tmp_path: Path):
    pool = _pool(tmp_path, "espeak", 2)
    yield pool
    pool.close()


def test_requests_spread_over_the_instances_and_come_back_as_audio(espeak_pool: InstancePool) -> None:
    texts = [f"Request number {n} for the pool." for n in range(6)]
    with ThreadPoolExecutor(4) as clients:
        results = list(clients.map(espeak_pool.synthesize, texts))
    for audio in results:
        assert audio.sample_rate == 24000 and audio.duration_s > 0.5
        assert float(np.sqrt(np.mean(np.square(audio.samples)))) > 0.01
    assert {audio.metadata["instance"] for audio in results} == {0, 1}
    stats = espeak_pool.stats()
    assert sum(s.syntheses for s in stats) == 6
    assert all(s.syntheses > 0 for s in stats), "one instance did all the work"
    assert len(set(espeak_pool.pids())) == 2 and os.getpid() not in espeak_pool.pids()


def test_a_bad_request_keeps_its_error_type(espeak_pool: InstancePool) -> None:
    with pytest.raises(InvalidText, match="empty"):
        espeak_pool.synthesize("   ")
    assert sum(s.failures for s in espeak_pool.stats()) == 1
    assert espeak_pool.synthesize("Still here.").duration_s > 0


def test_a_stream_comes_sentence_by_sentence_and_an_early_stop_frees_the_instance(tmp_path: Path) -> None:
    pool = _pool(tmp_path, "espeak", 1)
    try:
        text = "One sentence here. Another one there. And a third. A fourth to finish."
        chunks = list(pool.stream(text))
        assert len(chunks) == 4 and all(c.duration_s > 0.3 for c in chunks)
        partial = pool.stream(text)
        next(partial)
        partial.close()  # the client went away after the first sentence
        again = pool.synthesize("Fresh request.")  # not a leftover chunk of the stream
        assert again.duration_s < chunks[0].duration_s * 2
        assert pool.stats()[0].syntheses == 2  # the abandoned stream was never delivered
    finally:
        pool.close()


def test_a_dying_instance_is_restarted_and_its_request_fails_clearly(tmp_path: Path) -> None:
    pool = _pool(tmp_path, "harness.tts_backends:ExitingToneBackend", 1)
    try:
        before = pool.pids()
        with pytest.raises(InstanceCrashed, match=r"exited \(code 3\).*restarted: retry"):
            pool.synthesize("Please exit now.")
        assert pool.stats()[0].restarts == 1
        assert pool.pids() != before
        assert pool.synthesize("Back again.").duration_s > 0
    finally:
        pool.close()
    assert pool.pids() == [None]


def test_an_instance_that_cannot_load_says_why(tmp_path: Path) -> None:
    pool = InstancePool(
        Settings(backend="harness.tts_backends:BrokenBackend", data_dir=tmp_path),
        1,
        start_timeout_s=START_TIMEOUT_S,
    )
    with pytest.raises(RuntimeError, match=r"cannot start: BackendUnavailable: .*ckpt/llm is missing"):
        pool.start()
    assert pool.pids() == [None]
