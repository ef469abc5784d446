"""`PooledBackend`: the Backend interface, served by N worker processes each holding one model.

Each request goes to an idle instance; an instance runs one synthesis at a time (upstream
GLM-TTS keeps global state, so one process = one stream). The work queue above bounds the
concurrency to the number of instances, so a caller normally finds an idle one at once.

A worker that dies fails its request with `InstanceLost` (the server answers 503) and is
restarted in the background; the other instances keep serving meanwhile. Out of memory in a
worker becomes the usual `OutOfMemory`. What one request costs to cross the process boundary:
pickling the segments and options one way and the audio array the other (one copy of the
float32 samples through a pipe: ~0.5 MB for 5 s at 24 kHz, well under a millisecond).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from glm_tts_server.backends.base import Audio, BackendUnavailable, OutOfMemory, Segment, SynthesisOptions
from glm_tts_server.pool.errors import InstanceLost
from glm_tts_server.pool.worker import run_worker

log = logging.getLogger(__name__)

START_TIMEOUT_S = 3600.0  # loading GLM-TTS can take long; the startup probe is the real bound
STOP_TIMEOUT_S = 10.0
_NO_GPU_LIST = {"", "all", "none", "void"}


def gpu_assignment(instances: int, env: Mapping[str, str]) -> list[str | None]:
    """Which GPU each instance sees (CUDA_VISIBLE_DEVICES), round-robin over the pod's GPUs.

    The pod's GPUs are listed by CUDA_VISIBLE_DEVICES or, as the NVIDIA device plugin sets it,
    NVIDIA_VISIBLE_DEVICES. With one GPU (or none listed) every instance shares it: None means
    "inherit the parent's view".
    """
    for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"):
        value = env.get(name)
        if value is None or value.strip().lower() in _NO_GPU_LIST:
            continue
        gpus = [g.strip() for g in value.split(",") if g.strip()]
        if name == "NVIDIA_VISIBLE_DEVICES":
            # Inside the container CUDA numbers the listed GPUs 0..n-1.
            gpus = [str(i) for i in range(len(gpus))]
        if len(gpus) > 1:
            return [gpus[i % len(gpus)] for i in range(instances)]
        return [None] * instances
    return [None] * instances


@dataclass
class InstanceState:
    """One worker process and what the metrics report about it."""

    index: int
    gpu: str | None
    process: Any = None
    conn: Connection | None = None
    pid: int | None = None
    up: bool = False
    busy: bool = False
    syntheses: int = 0
    restarts: int = 0
    failures: dict[str, int] = field(default_factory=lambda: {"error": 0, "out_of_memory": 0, "died": 0})
    memory: dict[str, int] = field(default_factory=dict)
    empty_cache_pending: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)  # owns the pipe during one exchange


class PooledBackend:
    """Backend protocol over `instances` worker processes, each running `create_backend(settings)`."""

    def __init__(
        self, settings: Any, instances: int, env: Mapping[str, str] | None = None, start_method: str = "spawn"
    ):
        if instances < 1:
            raise ValueError(f"instances must be >= 1, got {instances}")
        # Workers get the settings without the HTTP credentials: they never answer a client.
        secrets = {k: None for k in ("api_key", "admin_token") if k in type(settings).model_fields}
        self.settings = settings.model_copy(update=secrets)
        self.instances = [
            InstanceState(i, gpu)
            for i, gpu in enumerate(gpu_assignment(instances, os.environ if env is None else env))
        ]
        self.name = f"{settings.backend} x{instances}"
        self.sample_rate = settings.sample_rate
        self._info: dict[str, Any] = {}
        self._ctx = multiprocessing.get_context(start_method)
        self._idle: queue.Queue[InstanceState] = queue.Queue()
        self._stopping = threading.Event()
        self._restarters: list[threading.Thread] = []

    # Capability flags the Synthesizer reads, as the wrapped backend declares them.
    @property
    def supports_speed(self) -> bool:
        return bool(self._info.get("supports_speed", True))

    @property
    def handles_g2p(self) -> bool:
        return bool(self._info.get("handles_g2p", False))

    @property
    def long_text_context(self) -> bool:
        return bool(self._info.get("long_text_context", False))

    # -- lifecycle ---------------------------------------------------------------------------
    def load(self) -> None:
        """Start every worker; each loads and warms its model. All must come up."""
        for inst in self.instances:
            self._spawn(inst)
        errors = []
        for inst in self.instances:
            try:
                self._await_ready(inst)
            except BackendUnavailable as exc:
                errors.append(str(exc))
        if errors:
            self.unload()
            raise BackendUnavailable("; ".join(errors))
        self.name = f"{self._info.get('name', self.settings.backend)} x{len(self.instances)}"
        for inst in self.instances:
            self._idle.put(inst)
        log.info(
            "%d model instances ready (pids %s)",
            len(self.instances),
            ", ".join(str(i.pid) for i in self.instances),
        )

    def warmup(self) -> None:
        """Each worker warms its own model while loading."""

    def _spawn(self, inst: InstanceState) -> None:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=run_worker,
            args=(child, self.settings, inst.index, inst.gpu),
            name=f"glm-tts-instance-{inst.index}",
            daemon=True,
        )
        process.start()
        child.close()  # only the worker holds its end: its death reads as EOF here
        inst.process, inst.conn = process, parent

    def _await_ready(self, inst: InstanceState) -> None:
        assert inst.conn is not None
        try:
            if not inst.conn.poll(START_TIMEOUT_S):
                raise BackendUnavailable(f"instance {inst.index} did not load within {START_TIMEOUT_S:g} s")
            answer = inst.conn.recv()
        except (EOFError, OSError):
            inst.process.join(1)
            raise BackendUnavailable(
                f"instance {inst.index} exited while loading (exit code {inst.process.exitcode})"
            ) from None
        if answer[0] != "ok":
            raise BackendUnavailable(f"instance {inst.index}: {answer[2]}")
        self._info = answer[1]
        inst.pid, inst.memory, inst.up = answer[1]["pid"], answer[2], True

    def unload(self) -> None:
        """Stop every worker once its current request is done (the server has drained before)."""
        self._stopping.set()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for inst in self.instances:
            if inst.process is None:
                continue
            got = inst.lock.acquire(timeout=max(deadline - time.monotonic(), 0))
            try:
                if inst.conn is not None and inst.up:
                    with contextlib.suppress(OSError, ValueError):
                        inst.conn.send(("stop", None))
            finally:
                if got:
                    inst.lock.release()
        for inst in self.instances:
            if inst.process is None:
                continue
            inst.process.join(max(deadline - time.monotonic(), 0.1))
            if inst.process.is_alive():
                log.warning("instance %d did not stop in time: killing it", inst.index)
                inst.process.kill()
                inst.process.join(2)
            if inst.conn is not None:
                inst.conn.close()
            inst.up = False

    # -- requests ----------------------------------------------------------------------------
    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        # The work queue admits at most len(instances) callers at once, so one is normally idle.
        inst = self._idle.get()
        while not inst.process.is_alive():  # died while idle: restart it, use another
            self._lost(inst, RuntimeError(f"found dead while idle ({self._exit_detail(inst)})"))
            inst = self._idle.get()
        inst.busy, lost = True, False
        try:
            return self._call(inst, "synthesize", (segments, options))
        except InstanceLost:
            lost = True  # the restarter hands the instance back once its new worker is ready
            raise
        finally:
            inst.busy = False
            if not lost:
                self._idle.put(inst)

    def register_metrics(self, registry: Any) -> None:
        """Per-instance gauges and counters, read at scrape time (see `pool.metrics`)."""
        from glm_tts_server.pool.metrics import InstanceCollector

        registry.register(InstanceCollector(self.instances))

    def _call(self, inst: InstanceState, op: str, payload: Any) -> Any:
        with inst.lock:
            answer = self._round_trip(inst, op, payload)
            if answer is None:
                raise InstanceLost(inst.index, self._exit_detail(inst))
            if inst.empty_cache_pending:  # asked for while this request ran
                inst.empty_cache_pending = False
                self._exchange(inst, "empty_cache")
        status = answer[0]
        inst.memory = answer[-1]
        if status == "ok":
            if op == "synthesize":
                inst.syntheses += 1
            return answer[1]
        kind, message = answer[1], answer[2]
        if kind == "oom":
            inst.failures["out_of_memory"] += 1
            raise OutOfMemory(message)
        inst.failures["error"] += 1
        raise RuntimeError(f"instance {inst.index}: {message}")

    def _exchange(self, inst: InstanceState, op: str) -> Any:
        """One request/answer while holding the lock; None when the worker is gone."""
        answer = self._round_trip(inst, op, None)
        if answer is None:
            return None
        inst.memory = answer[-1]
        return answer[1] if answer[0] == "ok" else None

    def _round_trip(self, inst: InstanceState, op: str, payload: Any) -> tuple | None:
        """Send one request and read its answer (caller holds the lock); a broken pipe marks the
        instance lost and gives None."""
        assert inst.conn is not None
        try:
            inst.conn.send((op, payload))
            return inst.conn.recv()
        except (EOFError, OSError) as exc:
            self._lost(inst, exc)
            return None

    @staticmethod
    def _exit_detail(inst: InstanceState) -> str:
        inst.process.join(1)
        code = inst.process.exitcode
        if code is None:
            return "its pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _lost(self, inst: InstanceState, exc: BaseException) -> None:
        if not inst.up:
            return
        inst.up = False
        inst.failures["died"] += 1
        log.error("instance %d (pid %s) died: %s; restarting it", inst.index, inst.pid, exc)
        if not self._stopping.is_set():
            thread = threading.Thread(
                target=self._restart, args=(inst,), name=f"restart-{inst.index}", daemon=True
            )
            self._restarters.append(thread)
            thread.start()

    def _restart(self, inst: InstanceState) -> None:
        attempt = 0
        while not self._stopping.is_set():
            inst.process.join(5)
            if inst.conn is not None:
                inst.conn.close()
            try:
                with inst.lock:
                    self._spawn(inst)
                    self._await_ready(inst)
            except BackendUnavailable as exc:
                attempt += 1
                delay = min(2.0**attempt, 60.0)
                log.error("restarting instance %d failed (%s); next try in %.0f s", inst.index, exc, delay)
                self._stopping.wait(delay)
                continue
            inst.restarts += 1
            log.info("instance %d restarted (pid %s)", inst.index, inst.pid)
            self._idle.put(inst)
            return

    # -- accelerator memory -------------------------------------------------------------------
    def empty_cache(self) -> int:
        """Empty every instance's cache: idle ones now, busy ones right after their request."""
        freed = 0
        for inst in self.instances:
            if inst.up and inst.lock.acquire(blocking=False):
                try:
                    freed += int(self._exchange(inst, "empty_cache") or 0)
                finally:
                    inst.lock.release()
            else:
                inst.empty_cache_pending = True
        return freed

    def refresh_memory_stats(self) -> None:
        """Ask every idle instance for its memory now (busy ones report after their request)."""
        for inst in self.instances:
            if inst.up and inst.lock.acquire(blocking=False):
                try:
                    self._exchange(inst, "memory_stats")
                finally:
                    inst.lock.release()

    def memory_stats(self) -> dict[str, int]:
        """Allocated and reserved summed over instances; total counted once per GPU."""
        totals: dict[str | None, int] = {}
        out: dict[str, int] = {}
        for inst in self.instances:
            for kind, value in inst.memory.items():
                if kind == "total":
                    totals[inst.gpu] = value
                else:
                    out[kind] = out.get(kind, 0) + value
        if totals:
            out["total"] = sum(totals.values())
        return out
