"""The model-worker process: loads one backend once, then answers requests over a pipe, one at a time.

Messages from the parent are `(op, payload)` tuples; every answer is `("ok", value, memory)`
or `("error", kind, message, memory)`, where `memory` is the backend's `memory_stats()` read
after the operation (so the parent can report GPU memory per instance without asking a busy
worker). Audio goes back as an `Audio` whose numpy array pickles as one contiguous buffer.
The worker exits when the parent says "stop" or its end of the pipe closes (the parent died).
"""

from __future__ import annotations

import logging
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

OPS = ("synthesize", "empty_cache", "memory_stats", "stop")


def _memory(backend: Any) -> dict[str, int]:
    try:
        return dict(backend.memory_stats())
    except Exception:  # the stats are informative: never fail a request over them
        return {}


def run_worker(conn: Connection, settings: Any, instance: int, cuda_visible_devices: str | None) -> None:
    """Entry point of a spawned worker (module-level so the spawn start method can import it)."""
    # The HTTP process decides when workers stop (after draining), so a SIGTERM/SIGINT sent to the
    # whole process group (Ctrl-C, some init systems) must not kill a synthesis half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cuda_visible_devices is not None:  # before anything imports CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
    logging.basicConfig(
        level=str(getattr(settings, "log_level", "info")).upper(),
        format=f"%(asctime)s %(levelname)s instance-{instance} %(name)s: %(message)s",
    )
    from glm_tts_server.backends import create_backend
    from glm_tts_server.backends.base import OutOfMemory

    try:
        backend = create_backend(settings)
        backend.load()
        backend.warmup()
    except Exception as exc:
        conn.send(("error", "unavailable", f"{type(exc).__name__}: {exc}", {}))
        conn.close()
        return
    conn.send(
        (
            "ok",
            {
                "name": backend.name,
                "sample_rate": backend.sample_rate,
                "supports_speed": getattr(backend, "supports_speed", True),
                "handles_g2p": getattr(backend, "handles_g2p", False),
                "long_text_context": getattr(backend, "long_text_context", False),
                "pid": os.getpid(),
            },
            _memory(backend),
        )
    )
    while True:
        try:
            op, payload = conn.recv()
        except (EOFError, OSError):  # the parent is gone: nobody is left to answer
            break
        if op == "stop":
            break
        try:
            if op == "synthesize":
                value: Any = backend.synthesize(*payload)
            elif op == "empty_cache":
                value = backend.empty_cache()
            elif op == "memory_stats":
                value = None
            else:
                raise ValueError(f"unknown operation {op!r}; expected one of {', '.join(OPS)}")
        except OutOfMemory as exc:
            # Give the memory back here, where it lives, before the next request arrives.
            freed = 0
            try:
                freed = backend.empty_cache()
            except Exception:
                log.exception("emptying the cache after an out-of-memory error failed")
            conn.send(("error", "oom", f"{exc} (instance {instance} freed {freed} bytes)", _memory(backend)))
            continue
        except Exception as exc:
            conn.send(("error", "error", f"{type(exc).__name__}: {exc}", _memory(backend)))
            continue
        try:
            conn.send(("ok", value, _memory(backend)))
        except OSError:  # the parent left (drain deadline passed): nobody wants the answer
            break
    try:
        backend.unload()
    finally:
        conn.close()
