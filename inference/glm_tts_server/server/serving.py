"""`serve(settings)`: uvicorn with a drain that Kubernetes can rely on.

On SIGTERM (or SIGINT) the pod must stop getting traffic before it stops answering: readiness
flips to 503 at once and new work is refused with 503, while the listener stays open for the
probes and in-flight requests finish. Only when they have (or `drain_timeout_s` has passed)
does uvicorn close the listener and exit. A second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from types import FrameType

import uvicorn

from glm_tts_server.config import Settings
from glm_tts_server.constants import EXIT_FAILED, EXIT_OK, HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from glm_tts_server.server.app import create_app
from glm_tts_server.server.lifecycle import Phase
from glm_tts_server.server.service import Service

log = logging.getLogger(__name__)

PROBE_PATHS = (HEALTHZ_PATH, READYZ_PATH, METRICS_PATH)
# uvicorn needs a moment after the drain to close connections and run the lifespan shutdown.
_SHUTDOWN_RESERVE_S = 1.0


class QuietProbes(logging.Filter):
    """Keep kubelet probes and Prometheus scrapes (every few seconds) out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access records carry (client, method, path, http_version, status)
        return not (
            isinstance(args, tuple)
            and len(args) >= 3
            and str(args[2]).split("?")[0] in PROBE_PATHS
            and record.levelno <= logging.INFO
        )


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service, drain_timeout_s: float):
        super().__init__(config)
        self.service = service
        self.drain_timeout_s = drain_timeout_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:  # second signal: the operator insists
            log.warning("second signal: exiting without waiting for in-flight requests")
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self.service.lifecycle.begin_drain()
        log.info(
            "signal %d: draining (readiness 503, new work refused), up to %.0f s", sig, self.drain_timeout_s
        )
        threading.Thread(target=self._drain, name="drain", daemon=True).start()

    def _drain(self) -> None:
        started = time.monotonic()
        # Keep a reserve of the grace period for uvicorn's own shutdown.
        budget = max(self.drain_timeout_s - _SHUTDOWN_RESERVE_S, 0.0)
        idle = self.service.lifecycle.wait_idle(started + budget)
        if not idle:
            log.warning("drain timeout: %d request(s) still in flight", self.service.lifecycle.in_flight)
        else:
            log.info("drained in %.2f s", time.monotonic() - started)
        self.config.timeout_graceful_shutdown = _SHUTDOWN_RESERVE_S
        self.should_exit = True

    def stop_now(self) -> None:
        self.should_exit = True


def serve(settings: Settings) -> int:
    """Run the HTTP service until SIGTERM; 0 after a clean drain, 1 if the backend failed to load."""
    app = create_app(settings)
    service: Service = app.state.service
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(max(settings.drain_timeout_s, 1)),
        # X-Forwarded-* is applied inside the app (app.py), after the
        # request context has seen the real peer
        proxy_headers=False,
        server_header=False,
    )
    server = DrainingServer(config, service, settings.drain_timeout_s)
    logging.getLogger("uvicorn.access").addFilter(QuietProbes())
    service.on_fatal = server.stop_now
    server.run()
    code = EXIT_OK
    if service.lifecycle.phase is Phase.FAILED:
        log.error("exiting: %s", service.lifecycle.detail)
        code = EXIT_FAILED
    if service.queue.running:
        # A synthesis cannot be interrupted and the interpreter would wait for its thread:
        # the drain deadline is a promise to the kubelet, so leave without it.
        log.warning("abandoning %d synthesis(es) still running at the drain deadline", service.queue.running)
        logging.shutdown()
        os._exit(code)
    return code
