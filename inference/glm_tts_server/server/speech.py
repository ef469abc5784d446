"""Runs syntheses for the routes: admission, the bounded queue, timeouts, OOM, metrics, liveness.

Routes validate input; this module turns a validated request into audio bytes (or a stream
of them) and every backend failure into the right HTTP status:
queue full → 429 + Retry-After, not ready → 503, out of memory → 503 after emptying the cache,
a pool instance that died mid-request → 503 (it is restarted),
timeout → 504, anything else → 500. Timeouts and failures count towards `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from fastapi import HTTPException

from glm_tts_server.backends.base import OutOfMemory, SynthesisOptions
from glm_tts_server.encoding import encode, encoded_rate, stream_encoder
from glm_tts_server.pool.errors import InstanceLost
from glm_tts_server.server.replies import NoReplySlot, ReplySlots
from glm_tts_server.server.service import Service
from glm_tts_server.server.work_queue import QueueFull
from glm_tts_server.synthesis import SENTENCE_GAP_S

log = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()  # end-of-stream marker from the worker thread


@dataclass(frozen=True)
class SpeechResult:
    body: bytes
    duration_s: float
    synthesis_s: float
    sample_rate: int
    release: Callable[[], None] = lambda: None  # frees the reply slot once the body is delivered


@dataclass(frozen=True)
class SpeechJob:
    text: str
    options: SynthesisOptions
    phoneme: bool
    fmt: str
    cleanup: Callable[[], None] | None = None  # runs once the work is over (inline prompt files)


class SpeechRunner:
    def __init__(self, service: Service):
        self.service = service
        self.timeout_s = service.settings.request_timeout_s
        # A reply holds memory until the client has it: as many as the queue admits, no more.
        self.replies = ReplySlots(service.queue.capacity)

    def check_ready(self) -> None:
        lifecycle = self.service.lifecycle
        if not lifecycle.ready:
            self.service.metrics.rejected.labels("not_ready").inc()
            raise HTTPException(503, f"not ready: {lifecycle.detail}", {"Retry-After": "5"})

    # -- whole responses -------------------------------------------------------------------
    async def synthesize(self, job: SpeechJob) -> SpeechResult:
        synthesizer = self.service.synthesizer

        def work() -> SpeechResult:
            started = time.perf_counter()
            audio = synthesizer.synthesize(job.text, job.options, phoneme=job.phoneme)
            body = encode(audio.samples, audio.sample_rate, job.fmt)
            return SpeechResult(
                body,
                audio.duration_s,
                time.perf_counter() - started,
                encoded_rate(job.fmt, audio.sample_rate),
            )

        release = self._reply_slot(job)
        try:
            future = self._submit(work, job)
            result = await self._await(future, self.timeout_s)
        except BaseException:
            release()
            raise
        self._succeeded(result.duration_s, result.synthesis_s)
        return replace(result, release=release)

    # -- streams ---------------------------------------------------------------------------
    async def stream(self, job: SpeechJob) -> tuple[AsyncIterator[bytes], Callable[[], None]]:
        """Audio as it is made: each sentence is encoded (in `job.fmt`) and sent once synthesised,
        and the release of its reply slot (call it once the stream is over).

        Waits for the first sentence before returning, so an early failure is still a proper
        error status; a failure after that can only end the stream early (and is logged).
        """
        release = self._reply_slot(job)
        try:
            return await self._start_stream(job), release
        except BaseException:
            release()
            raise

    async def _start_stream(self, job: SpeechJob) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()  # the client went away: stop after the current sentence
        synthesizer = self.service.synthesizer
        gap = np.zeros(round(SENTENCE_GAP_S * synthesizer.sample_rate), dtype=np.float32)

        def post(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: the server stopped meanwhile
                loop.call_soon_threadsafe(chunks.put_nowait, item)

        def work() -> tuple[float, float]:
            started, produced = time.perf_counter(), 0.0
            try:
                with contextlib.closing(stream_encoder(job.fmt, synthesizer.sample_rate)) as encoder:
                    for audio in synthesizer.stream(job.text, job.options, phoneme=job.phoneme):
                        if stop.is_set():
                            return produced, time.perf_counter() - started
                        samples = np.concatenate([gap, audio.samples]) if produced else audio.samples
                        if chunk := encoder.write(samples):  # an encoder may hold a few ms back
                            post(chunk)
                        produced += audio.duration_s + (SENTENCE_GAP_S if produced else 0.0)
                    if produced and (tail := encoder.finish()):
                        post(tail)
            finally:
                post(_END)
            return produced, time.perf_counter() - started

        future = self._submit(work, job)
        first = await self._next_chunk(chunks, future, stop)
        if first is _END:  # nothing came out: report how the work ended
            produced, elapsed = await self._await(future, self.timeout_s)
            self._succeeded(produced, elapsed)
            raise HTTPException(422, "text produced no audio: send words to speak")
        return self._relay(first, chunks, future, stop)

    async def _next_chunk(self, chunks: asyncio.Queue[Any], future: Future, stop: threading.Event) -> Any:
        try:
            return await asyncio.wait_for(chunks.get(), self.timeout_s)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            stop.set()
            raise self._failed(future, TimeoutError()) from None

    async def _relay(
        self, first: bytes, chunks: asyncio.Queue[Any], future: Future, stop: threading.Event
    ) -> AsyncIterator[bytes]:
        try:
            yield first
            while (chunk := await self._next_chunk(chunks, future, stop)) is not _END:
                yield chunk
            produced, elapsed = await asyncio.wrap_future(future)
            self._succeeded(produced, elapsed)
        except HTTPException as exc:
            log.warning("stream ended early: %s", exc.detail)
        except Exception as exc:
            self._failed(future, exc)
            log.error("stream ended early: synthesis failed: %s", exc)
        finally:
            stop.set()

    # -- shared ----------------------------------------------------------------------------
    def _reply_slot(self, job: SpeechJob) -> Callable[[], None]:
        try:
            return self.replies.take()
        except NoReplySlot as exc:
            if job.cleanup:
                job.cleanup()
            self.service.metrics.rejected.labels("queue_full").inc()
            retry = self.service.queue.retry_after_s()
            raise HTTPException(
                429, f"the synthesis queue is full ({exc}): retry in {retry} s", {"Retry-After": str(retry)}
            ) from None

    def _submit(self, work: Callable[[], T], job: SpeechJob) -> Future[T]:
        try:
            self.check_ready()
            future = self.service.queue.submit(work)
        except BaseException as exc:
            if job.cleanup:
                job.cleanup()
            if isinstance(exc, QueueFull):
                self.service.metrics.rejected.labels("queue_full").inc()
                raise HTTPException(
                    429, f"{exc}: the server is at capacity", {"Retry-After": str(exc.retry_after_s)}
                ) from None
            raise
        if job.cleanup:
            cleanup = job.cleanup
            future.add_done_callback(lambda _f: cleanup())
        return future

    async def _await(self, future: Future[T], timeout: float) -> T:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise self._failed(future, TimeoutError()) from None
        except Exception as exc:
            raise self._failed(future, exc) from exc

    def _succeeded(self, audio_s: float, synthesis_s: float) -> None:
        self.service.lifecycle.record_success()
        self.service.metrics.observe_synthesis(audio_s, synthesis_s)

    def _failed(self, future: Future, exc: BaseException) -> HTTPException:
        """Count a failed synthesis and say what the client gets for it."""
        metrics, lifecycle = self.service.metrics, self.service.lifecycle
        lifecycle.record_failure()
        if isinstance(exc, TimeoutError):
            future.cancel()  # only helps while it is still queued; a running synthesis finishes
            metrics.synthesis_failures.labels("timeout").inc()
            return HTTPException(
                504,
                f"synthesis took longer than {self.timeout_s:g} s: send shorter "
                "text, or raise GLMTTS_REQUEST_TIMEOUT_S",
            )
        if isinstance(exc, OutOfMemory):
            metrics.synthesis_failures.labels("out_of_memory").inc()
            metrics.oom.inc()
            freed = self.service.backend.empty_cache()
            metrics.freed_bytes.inc(freed)
            log.warning("out of accelerator memory (%s); emptied the cache, %d bytes freed", exc, freed)
            return HTTPException(
                503,
                "the GPU ran out of memory for this request: retry shortly, or send shorter text",
                {"Retry-After": "2"},
            )
        if isinstance(exc, InstanceLost):
            metrics.synthesis_failures.labels("instance_lost").inc()
            log.error("%s", exc)
            return HTTPException(503, str(exc), {"Retry-After": "5"})
        metrics.synthesis_failures.labels("error").inc()
        log.error("synthesis failed", exc_info=exc)
        return HTTPException(500, f"synthesis failed ({type(exc).__name__}: {exc})")
