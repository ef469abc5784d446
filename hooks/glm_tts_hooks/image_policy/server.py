"""The image-policy server: policy, registry client, decider, and uvicorn serving the routes over TLS.

uvicorn owns HTTP parsing, keep-alive, connection limits and graceful shutdown; app.py holds
the routes and tls.py swaps in a reloaded certificate per handshake. `start()`/`stop()` run it
in a background thread (tests, embedding); `serve()` runs it in the calling thread and returns
after SIGTERM/SIGINT once the reviews in progress have answered.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from glm_tts_hooks.image_policy.app import build_app
from glm_tts_hooks.image_policy.decision import Decider, Decision
from glm_tts_hooks.image_policy.metrics import WebhookMetrics
from glm_tts_hooks.image_policy.policy import PolicyError, PolicyStore
from glm_tts_hooks.image_policy.registry import Credentials, CredentialsFile, RegistryClient
from glm_tts_hooks.image_policy.signatures import SignatureVerifier
from glm_tts_hooks.image_policy.tls import ReloadingTLS

log = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 30.0  # the API server keeps connections alive between reviews
MAX_CONNECTIONS = 512  # connections or reviews at once; beyond this uvicorn answers 503
DRAIN_SECONDS = 10.0  # longest a review can take is the registry deadline (max 30 s, default 3 s)
STARTUP_SECONDS = 10.0


class InFlight:
    """Counts reviews in progress so shutdown can be checked (`with in_flight:` around one)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


class StartupError(Exception):
    """The server cannot start; the message names the file and the problem."""


@dataclass(frozen=True)
class ServerConfig:
    cert_file: str
    key_file: str
    policy_file: str
    host: str = "0.0.0.0"  # noqa: S104 - a webhook Service reaches the pod on its pod IP
    port: int = 8443
    registry_auth_file: str | None = None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ImagePolicyServer:
    def __init__(self, config: ServerConfig) -> None:
        self.metrics = WebhookMetrics()
        try:
            self.policies = PolicyStore(config.policy_file, on_reload=self._policy_reloaded)
        except PolicyError as exc:
            raise StartupError(f"invalid policy: {exc}") from None
        try:
            self.tls = ReloadingTLS(config.cert_file, config.key_file, self.metrics)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(
                f"cannot load the TLS certificate {config.cert_file} / key {config.key_file}: {exc}"
            ) from None
        try:
            credentials = (
                CredentialsFile(config.registry_auth_file)
                if config.registry_auth_file
                else Credentials.empty()
            )
        except ValueError as exc:
            raise StartupError(f"invalid --registry-auth: {exc}") from None
        self.registry = RegistryClient(credentials)
        self.decider = Decider(self.policies, SignatureVerifier(self.registry), self.metrics)
        try:
            self._socket = _listen(config.host, config.port)
        except OSError as exc:
            raise StartupError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
        self.in_flight = InFlight()
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                build_app(self),
                ssl_context_factory=lambda _config, _default: self.tls.listener,
                timeout_keep_alive=int(IDLE_TIMEOUT_SECONDS),
                timeout_graceful_shutdown=int(DRAIN_SECONDS),
                limit_concurrency=MAX_CONNECTIONS,
                backlog=256,
                lifespan="off",
                access_log=False,
                server_header=False,
                log_config=None,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def _policy_reloaded(self, ok: bool, error: str | None) -> None:
        self.metrics.policy_reloads.labels("ok" if ok else "error").inc()

    def record(self, api: str, decision: Decision, doc: Any) -> None:
        verdict = "denied" if not decision.allowed else ("audited" if decision.findings else "allowed")
        self.metrics.decisions.labels(api, verdict, decision.rule or "none").inc()
        if decision.findings:
            uid = (doc.get("request") or {}).get("uid", "-") if isinstance(doc, dict) else "-"
            log.info("%s %s uid=%s: %s", api, verdict, uid, decision.message())

    def serve(self) -> None:
        """Serve in this thread until SIGTERM/SIGINT (main thread) or stop(); then release everything."""
        try:
            self._uvicorn.run(sockets=[self._socket])
        finally:
            self._close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="image-policy-https", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StartupError("the HTTPS server did not start; see the log")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop accepting, let reviews in progress answer (the API server is waiting on them), close."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=DRAIN_SECONDS + 5)

    def _close(self) -> None:
        self.decider.close()
        self.registry.close()
        self._socket.close()

    def __enter__(self) -> ImagePolicyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
