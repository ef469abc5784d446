"""Everything one server process holds: settings, backend, synthesizer, queue, probes, metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from glm_tts_server.audit import AuditLog, AuditUnavailable
from glm_tts_server.backends import create_backend
from glm_tts_server.backends.base import Backend
from glm_tts_server.config import Settings
from glm_tts_server.encoding import warm_up as warm_up_encoders
from glm_tts_server.g2p import G2PDictionary
from glm_tts_server.server.lifecycle import Lifecycle
from glm_tts_server.server.metrics import Metrics
from glm_tts_server.server.work_queue import WorkQueue
from glm_tts_server.synthesis import Synthesizer
from glm_tts_server.voices import UnknownVoice, VoiceStore

log = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings, backend: Backend | None = None):
        self.settings = settings
        self.g2p = G2PDictionary(settings.g2p_dict) if settings.g2p_dict else None
        if backend is None and settings.instances > 1:
            from glm_tts_server.pool import PooledBackend

            backend = PooledBackend(settings, settings.instances)
        self.backend = backend if backend is not None else create_backend(settings, g2p=self.g2p)
        self.synthesizer = Synthesizer(
            self.backend,
            g2p=self.g2p,
            max_input_chars=settings.max_input_chars,
            sample_rate=settings.sample_rate,
        )
        self.voices = VoiceStore(settings.data_dir)
        self.audit = AuditLog(
            settings.audit_log_path, settings.audit_log_max_bytes, settings.audit_log_backups
        )
        # A pool instance runs one synthesis at a time: concurrency is the number of instances.
        concurrency = settings.instances if settings.instances > 1 else settings.workers
        self.queue = WorkQueue(concurrency, settings.queue_size)
        self.lifecycle = Lifecycle(settings.failure_threshold)
        self.metrics = Metrics()
        self.metrics.watch(
            queue_depth=lambda: self.queue.waiting,
            running=lambda: self.queue.running,
            failures=lambda: self.lifecycle.consecutive_failures,
            ready=lambda: self.lifecycle.ready,
            memory_stats=self._memory_stats,
        )
        if hasattr(self.backend, "register_metrics"):  # per-instance metrics of a pool
            self.backend.register_metrics(self.metrics.registry)
        self.started_at = int(time.time())
        self.on_fatal: Callable[[], None] | None = None  # set by serve(): stop the process
        self._loader: threading.Thread | None = None

    def _memory_stats(self) -> dict[str, int]:
        return self.backend.memory_stats() if self.lifecycle.ready else {}

    @property
    def uses_accelerator(self) -> bool:
        """The loaded backend reports accelerator memory: the GPU controls apply."""
        return bool(self._memory_stats())

    def start_loading(self) -> None:
        """Load and warm the backend off the event loop; /healthz answers meanwhile, /readyz waits."""
        self._loader = threading.Thread(target=self._load, name="backend-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        try:
            self.backend.load()
            self.backend.warmup()
            warm_up_encoders(self.synthesizer.sample_rate)
        except Exception as exc:
            log.error("backend %r failed to load: %s", self.settings.backend, exc)
            self.lifecycle.mark_failed(f"backend failed to load: {exc}")
            if self.on_fatal is not None:
                self.on_fatal()
            return
        if self.settings.default_voice:
            try:
                self.voices.get(self.settings.default_voice)
            except UnknownVoice:
                log.warning(
                    "default voice %r is not registered: requests without a voice will fail "
                    "until it is (POST /v1/voices)",
                    self.settings.default_voice,
                )
        try:
            self.audit.check()
        except AuditUnavailable as exc:  # only cloned voices need it: the rest of the service works
            log.error("%s: syntheses with cloned voices will be refused until it can be written", exc)
        self.lifecycle.mark_ready()
        log.info("backend %s loaded and warmed up: ready", self.backend.name)

    def close(self) -> None:
        self.queue.shutdown()
        self.audit.close()
        try:
            self.backend.unload()
        except Exception:
            log.exception("unloading the backend failed")
