"""Process lifecycle as the probes see it: loading → ready → draining, and liveness by failures.

Readiness (`/readyz`) is true only between a successful load+warm-up and the first SIGTERM.
Liveness (`/healthz`) turns false after `failure_threshold` consecutive synthesis failures,
so the kubelet restarts a pod whose backend is wedged; one success resets the count.
"""

from __future__ import annotations

import enum
import threading
import time


class Phase(str, enum.Enum):
    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    FAILED = "failed"  # the backend could not load; the process is about to exit


class Lifecycle:
    def __init__(self, failure_threshold: int):
        self.failure_threshold = failure_threshold
        self._lock = threading.Lock()
        self._phase = Phase.LOADING
        self._detail = "loading and warming up the model"
        self._consecutive_failures = 0
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    # -- readiness -------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def detail(self) -> str:
        return self._detail

    @property
    def ready(self) -> bool:
        return self._phase is Phase.READY

    @property
    def draining(self) -> bool:
        return self._phase is Phase.DRAINING

    def mark_ready(self) -> None:
        with self._lock:
            if self._phase is Phase.LOADING:  # a SIGTERM during loading wins
                self._phase, self._detail = Phase.READY, "ready"

    def mark_failed(self, detail: str) -> None:
        with self._lock:
            self._phase, self._detail = Phase.FAILED, detail

    def begin_drain(self) -> None:
        with self._lock:
            if self._phase is not Phase.FAILED:
                self._phase = Phase.DRAINING
                self._detail = "shutting down: finishing in-flight requests, send new work elsewhere"

    # -- liveness --------------------------------------------------------------------------
    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    @property
    def live(self) -> bool:
        return self._consecutive_failures < self.failure_threshold

    def record_success(self) -> None:
        with self._lock:
            self._consecutive_failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive_failures += 1

    # -- in-flight requests (what a drain waits for) ---------------------------------------
    @property
    def in_flight(self) -> int:
        return self._in_flight

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def wait_idle(self, deadline: float) -> bool:
        """Block until no request is in flight or `deadline` (time.monotonic) passes."""
        with self._lock:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True
