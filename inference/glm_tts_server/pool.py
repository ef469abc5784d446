"""Model instances in their own processes: several independent syntheses at once on one machine.

Upstream GLM-TTS keeps global state (it reseeds the global generators on every segment), so one
process runs one synthesis at a time. `InstancePool` starts N worker processes, each loading the
configured backend once, and hands each request to an idle one. A worker that dies mid-request
is restarted and the request fails with `InstanceCrashed` (a clear 5xx for the HTTP layer),
never silently lost. Per-instance counters say which instance is busy, how much it did, how
often it failed or was restarted.

`synthesize`/`stream` mirror `Synthesizer`'s, so the service runs its `workers` either as
threads over one in-process model or, with `GLMTTS_WORKER_PROCESSES=true`, as one instance
process each (`Service.engine`). Streams cross the process boundary sentence group by group.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from glm_tts_server.backends.base import Audio, OutOfMemory, SynthesisOptions
from glm_tts_server.config import Settings
from glm_tts_server.synthesis import InvalidOptions, InvalidText

log = logging.getLogger(__name__)

# Errors a worker reports that keep their type across the process boundary; anything else
# arrives as a RuntimeError carrying the worker's message.
_KNOWN_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls for cls in (InvalidText, InvalidOptions, OutOfMemory, ValueError)
}
_POLL_S = 0.1


class InstanceCrashed(RuntimeError):
    """The model instance running a request exited; it has been restarted."""


@dataclass(frozen=True)
class PoolRequest:
    text: str
    options: SynthesisOptions
    phoneme: bool = False
    stream: bool = False


@dataclass
class InstanceStats:
    busy: bool = False
    syntheses: int = 0
    failures: int = 0
    restarts: int = 0


def _serve(settings: Settings, conn: Connection) -> None:
    """A worker process: load the backend once, then answer requests until told to stop."""
    from glm_tts_server.synthesis import build_synthesizer

    try:
        synthesizer = build_synthesizer(settings)
    except Exception as exc:  # the parent says why the instance cannot start
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            request: PoolRequest | None = conn.recv()
        except EOFError:  # the parent is gone
            return
        if request is None:
            return
        try:
            if request.stream:
                for audio in synthesizer.stream(request.text, request.options, phoneme=request.phoneme):
                    conn.send(("chunk", audio))
                conn.send(("end", None))
            else:
                conn.send(
                    ("end", synthesizer.synthesize(request.text, request.options, phoneme=request.phoneme))
                )
        except Exception as exc:
            if isinstance(exc, OutOfMemory):  # this instance's cache, in this process
                synthesizer.backend.empty_cache()
            conn.send(("error", (type(exc).__name__, str(exc))))


class _Instance:
    def __init__(
        self,
        index: int,
        settings: Settings,
        context: multiprocessing.context.BaseContext,
        start_timeout_s: float,
    ):
        self.index = index
        self.settings = settings
        self.context = context
        self.start_timeout_s = start_timeout_s
        self.stats = InstanceStats()
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None

    def start(self) -> None:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(self.settings, child), daemon=True, name=f"glmtts-instance-{self.index}"
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent
        if not parent.poll(self.start_timeout_s):
            self.stop()
            raise RuntimeError(f"model instance {self.index} did not load within {self.start_timeout_s:g} s")
        try:
            status, detail = parent.recv()
        except EOFError:
            status, detail = "failed", f"exited with code {process.exitcode} while loading"
        if status != "ready":
            self.stop()
            raise RuntimeError(f"model instance {self.index} cannot start: {detail}")

    def run(self, request: PoolRequest, timeout_s: float | None) -> Iterator[Audio]:
        """Send `request`; yield its chunks (one Audio unless streaming). Always reads the
        answer to its end, so the instance is free again once this returns."""
        if self.process is None or self.conn is None:  # a restart failed earlier: try again now
            self.start()
        assert self.conn is not None and self.process is not None
        self.conn.send(request)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            while not self.conn.poll(_POLL_S):
                if not self.process.is_alive():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    # It cannot be interrupted: replace it so the pool keeps its capacity.
                    self._restart(f"took longer than {timeout_s:g} s")
                    raise TimeoutError(f"model instance {self.index} took longer than {timeout_s:g} s")
            try:
                status, payload = self.conn.recv()
            except (EOFError, OSError):
                code = self.process.exitcode
                self._restart(f"exited with code {code}")
                raise InstanceCrashed(
                    f"model instance {self.index} exited (code {code}) during this request; "
                    "it has been restarted: retry the request"
                ) from None
            if status == "error":
                name, message = payload
                raise _KNOWN_ERRORS.get(name, RuntimeError)(message)
            if payload is not None:
                payload.metadata["instance"] = self.index
                yield payload
            if status == "end":
                return

    def _restart(self, why: str) -> None:
        log.warning("model instance %d %s: restarting it", self.index, why)
        self.stats.restarts += 1
        self.stop()
        try:
            self.start()
        except RuntimeError as exc:  # the next request on this instance tries again
            log.error("%s", exc)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
            self.conn.close()
        if self.process is not None:
            self.process.join(timeout_s)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout_s)
        self.process, self.conn = None, None


class InstancePool:
    """N model instances, each in its own process; `synthesize` blocks until one is free."""

    def __init__(
        self,
        settings: Settings,
        instances: int,
        *,
        start_timeout_s: float = 600.0,
        start_method: str = "spawn",
    ):
        if instances < 1:
            raise ValueError(f"need at least 1 instance, got {instances}")
        context = multiprocessing.get_context(start_method)  # spawn: no CUDA state is forked
        self._instances = [_Instance(i, settings, context, start_timeout_s) for i in range(instances)]
        self._idle: queue.Queue[_Instance] = queue.Queue()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every instance (in parallel: each loads the model) and wait until all are ready."""
        errors: list[Exception] = []

        def start_one(instance: _Instance) -> None:
            try:
                instance.start()
                self._idle.put(instance)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start_one, args=(i,)) for i in self._instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.close()
            raise errors[0]

    def synthesize(
        self,
        text: str,
        options: SynthesisOptions | None = None,
        phoneme: bool = False,
        timeout_s: float | None = None,
    ) -> Audio:
        """Like `Synthesizer.synthesize`, on the next free instance."""
        request = PoolRequest(text, options or SynthesisOptions(), phoneme)
        (audio,) = self._on_an_instance(request, timeout_s)  # runs to the end: the instance is free
        return audio

    def stream(
        self,
        text: str,
        options: SynthesisOptions | None = None,
        phoneme: bool = False,
        timeout_s: float | None = None,
    ) -> Iterator[Audio]:
        """Like `Synthesizer.stream`: sentence groups as the instance makes them."""
        yield from self._on_an_instance(
            PoolRequest(text, options or SynthesisOptions(), phoneme, True), timeout_s
        )

    def _on_an_instance(self, request: PoolRequest, timeout_s: float | None) -> Iterator[Audio]:
        instance = self._idle.get()
        stats = instance.stats
        stats.busy = True
        answer = instance.run(request, timeout_s)
        try:
            for audio in answer:  # noqa: UP028 - closing this must not close `answer` unread
                yield audio
        except GeneratorExit:
            raise
        except BaseException:
            stats.failures += 1
            raise
        else:
            stats.syntheses += 1
        finally:
            # A consumer that stops early (client gone): read the rest so the instance is free.
            with contextlib.suppress(Exception):
                for _ in answer:
                    pass
            stats.busy = False
            self._idle.put(instance)

    def stats(self) -> list[InstanceStats]:
        return [instance.stats for instance in self._instances]

    def pids(self) -> list[int | None]:
        return [instance.process.pid if instance.process else None for instance in self._instances]

    def close(self) -> None:
        for instance in self._instances:
            instance.stop()
