"""A bounded work queue: `workers` syntheses run at once in threads, at most `queue_size` wait.

Admission is decided up front so the HTTP layer can answer 429 at once instead of building an
unbounded backlog. A slot is held until the work really finishes, even when the caller gave up
(timeout, disconnect): a synthesis cannot be interrupted, so the queue reflects the true load.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# Exponential moving average weight for the per-task duration behind Retry-After.
_EWMA_ALPHA = 0.2


class QueueFull(RuntimeError):
    """No room: `workers` tasks are running and `queue_size` are waiting."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"the synthesis queue is full: retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class WorkQueue:
    def __init__(self, workers: int, queue_size: int):
        if workers < 1 or queue_size < 0:
            raise ValueError(f"need workers >= 1 and queue_size >= 0, got {workers} and {queue_size}")
        self.workers = workers
        self.capacity = workers + queue_size
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synthesis")
        self._room = threading.Condition()
        self._admitted = 0  # waiting + running
        self._running = 0
        self._avg_task_s = 1.0

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def retry_after_s(self) -> int:
        """A fair guess at when a slot frees up: the waiting work spread over the workers."""
        backlog = max(self.waiting, 1)
        return max(1, math.ceil(self._avg_task_s * backlog / self.workers))

    def submit(self, fn: Callable[..., T], *args: object, block: bool = False, reserve: int = 0) -> Future[T]:
        """Queue `fn(*args)`; raise QueueFull when there is no room (or wait for it when `block`).

        `block` is for background work (batch jobs) that must share the workers without
        ever being refused; `reserve` slots are left free for others (interactive requests).
        """
        with self._room:
            while self._admitted >= self.capacity - reserve:
                if not block:
                    raise QueueFull(self.retry_after_s())
                self._room.wait()
            self._admitted += 1
        try:
            future = self._executor.submit(self._run, fn, *args)
        except BaseException:
            self._release()
            raise
        # Fires when the work finishes, or when it is cancelled before it ever started.
        future.add_done_callback(self._release)
        return future

    def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._room:
            self._running += 1
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            elapsed = time.perf_counter() - started
            with self._room:
                self._running -= 1
                self._avg_task_s += _EWMA_ALPHA * (elapsed - self._avg_task_s)

    def _release(self, _future: Future | None = None) -> None:
        with self._room:
            self._admitted -= 1
            self._room.notify_all()  # waiters differ in their reserve: let each re-check

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
