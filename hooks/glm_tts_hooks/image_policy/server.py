"""The HTTPS server: /validate, /imagereview, /healthz, /metrics.

Why the standard library's ThreadingHTTPServer rather than uvicorn: the decision path is
blocking (registry calls, ECDSA) and runs in threads either way, and owning the accept path
lets each connection's TLS handshake run in its own thread with whatever SSLContext is current,
so a rotated certificate (cert-manager rewrites the Secret volume) is served on the next
connection without restarts or handshake callbacks. Requests are size-capped and time-limited.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from glm_tts_hooks.image_policy.admission import BadRequest, review_admission, review_images
from glm_tts_hooks.image_policy.decision import Decider, Decision
from glm_tts_hooks.image_policy.files import file_stamp
from glm_tts_hooks.image_policy.metrics import WebhookMetrics
from glm_tts_hooks.image_policy.policy import PolicyError, PolicyStore
from glm_tts_hooks.image_policy.registry import Credentials, CredentialsFile, RegistryClient
from glm_tts_hooks.image_policy.signatures import SignatureVerifier

log = logging.getLogger(__name__)

# The API server caps objects at 3 MiB in etcd; an AdmissionReview carries at most two of them
# (object and oldObject) plus envelope, and pods are far smaller in practice.
MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_DRAIN_BYTES = 16 * 1024 * 1024  # read past an oversized body so the client sees our answer
HANDSHAKE_TIMEOUT_SECONDS = 5.0
LINGER_SECONDS = 1.0
IDLE_TIMEOUT_SECONDS = 30.0  # the API server keeps connections alive between reviews
MAX_CONNECTIONS = 512  # one thread each; beyond this new connections are closed at once
DRAIN_SECONDS = 10.0  # longest a review can take is the registry deadline (max 30 s, default 3 s)
KNOWN_ENDPOINTS = ("/validate", "/imagereview", "/healthz", "/readyz", "/metrics")


class InFlight:
    """Counts reviews in progress so shutdown can wait for them (`with in_flight:` around one)."""

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


class ReloadingTLS:
    """The server SSLContext for the certificate files as they are now.

    Each new connection asks for `current()`, which stats both files (microseconds) and builds a
    fresh context when they changed. A broken pair (e.g. cert written, key not yet) keeps the
    previous context and is retried on the next change.
    """

    def __init__(self, cert_file: str, key_file: str, metrics: WebhookMetrics) -> None:
        self.cert_file, self.key_file, self._metrics = cert_file, key_file, metrics
        self._lock = threading.Lock()
        self._stamp = file_stamp(cert_file, key_file)
        self._context = self._build()  # startup: let the error propagate

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def current(self) -> ssl.SSLContext:
        stamp = file_stamp(self.cert_file, self.key_file)
        if stamp == self._stamp or stamp is None:
            return self._context
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._context = self._build()
                except (OSError, ssl.SSLError) as exc:
                    self._metrics.certificate_reloads.labels("error").inc()
                    log.error("certificate reload failed, serving the previous one: %s", exc)
                else:
                    self._metrics.certificate_reloads.labels("ok").inc()
                    log.info("certificate reloaded from %s", self.cert_file)
            return self._context


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    server: _HTTPSServer
    server_version = "glm-tts-image-policy"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        if self.server.webhook.stopping:
            self.close_connection = True  # clients reconnect to another replica
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        path = self.path.split("?", 1)[0]
        endpoint = path if path in KNOWN_ENDPOINTS else "other"  # bounded label values
        self.server.webhook.metrics.requests.labels(endpoint, str(status)).inc()

    def _error(self, status: int, message: str) -> None:
        body = json.dumps({"error": message, "code": status}).encode()
        self._send(status, body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # an unread body must not become the next request
        webhook = self.server.webhook
        if path in ("/healthz", "/readyz"):
            error = webhook.policies.last_error
            text = "ok" if error is None else f"ok (serving the last good policy; reload failed: {error})"
            self._send(200, text.encode() + b"\n", "text/plain; charset=utf-8")
        elif path == "/metrics":
            self._send(200, webhook.metrics.exposition(), webhook.metrics.content_type)
        else:
            self._error(404, f"no such endpoint {path!r}: use /validate, /imagereview, /healthz or /metrics")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        routes = {
            "/validate": ("AdmissionReview", review_admission),
            "/imagereview": ("ImageReview", review_images),
        }
        if path not in routes:
            # The body is never read: close, or its bytes would be parsed as the next request.
            self.close_connection = True
            self._error(
                404, f"no such endpoint {path!r}: POST to /validate (AdmissionReview) or /imagereview"
            )
            return
        body = self._read_body()
        if body is None:
            return
        with self.server.webhook.in_flight:
            self._review(*routes[path], body)

    def _review(self, api: str, review: Any, body: bytes) -> None:
        started = time.perf_counter()
        webhook = self.server.webhook
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:  # bad syntax, bad UTF-8, absurd nesting
            self._error(400, f"body is not valid JSON: {exc}")
            return
        try:
            answer, decision = review(doc, webhook.decider)
        except BadRequest as exc:
            self._error(400, str(exc))
            return
        except Exception:
            log.exception("%s failed", api)
            self._error(500, "internal error while reviewing; see the webhook log")
            return
        webhook.metrics.latency.labels(api).observe(time.perf_counter() - started)
        if decision is not None:
            webhook.record(api, decision, doc)
        self._send(200, json.dumps(answer).encode())

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            self._error(411, "a Content-Length header is required")
            return None
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._drain(length)
            self._error(413, f"request body of {length} bytes exceeds the {MAX_BODY_BYTES} byte limit")
            return None
        content_type = self.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if content_type != "application/json":
            self.close_connection = True
            self._drain(length)
            self._error(415, f"Content-Type {content_type!r} is not application/json")
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None  # the client went away mid-body
        return body

    def _read_chunked(self) -> bytes | None:
        """HTTP/1.1 chunked body under the same size cap (the API server sends Content-Length, but
        any HTTP/1.1 client may chunk)."""
        chunks, size = [], 0
        try:
            while True:
                line = self.rfile.readline(64)
                chunk_size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                if chunk_size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                size += chunk_size
                if size > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._error(413, f"request body exceeds the {MAX_BODY_BYTES} byte limit")
                    return None
                chunks.append(self.rfile.read(chunk_size))
                self.rfile.readline(64)
        except ValueError:
            self.close_connection = True
            self._error(400, "malformed chunked encoding")
            return None

    def _drain(self, length: int) -> None:
        remaining = min(length, MAX_DRAIN_BYTES)
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 64 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass


def _lingering_close(sock: ssl.SSLSocket) -> None:
    """Close without losing our last response: closing with unread request bytes in the receive
    buffer makes the kernel send a RST, which can destroy the response before the client reads it.
    So send FIN first, then discard what the client still sends (bounded), then close."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_SECONDS)
        drained = 0
        while drained < MAX_DRAIN_BYTES:
            chunk = sock.recv(64 * 1024)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass
    finally:
        sock.close()


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], webhook: WebhookServer) -> None:
        self.webhook = webhook
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        # Bound the thread count: a connection flood must not exhaust the pod's memory.
        if not self._slots.acquire(blocking=False):
            log.warning("connection limit %d reached, closing %s", MAX_CONNECTIONS, client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # Runs in the connection's own thread: a slow handshake never blocks accept().
        request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        try:
            tls = self.webhook.tls.current().wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            _lingering_close(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class WebhookServer:
    """Policy, registry client, decider and HTTPS listener; `start()` serves in a background thread."""

    def __init__(self, config: ServerConfig, cache_max_entries: int | None = None) -> None:
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
            self._httpd = _HTTPSServer((config.host, config.port), self)
        except OSError as exc:
            raise StartupError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
        self._thread: threading.Thread | None = None
        self.in_flight = InFlight()
        self.stopping = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def _policy_reloaded(self, ok: bool, error: str | None) -> None:
        self.metrics.policy_reloads.labels("ok" if ok else "error").inc()

    def record(self, api: str, decision: Decision, doc: Any) -> None:
        verdict = "denied" if not decision.allowed else ("audited" if decision.findings else "allowed")
        self.metrics.decisions.labels(api, verdict, decision.rule or "none").inc()
        if decision.findings:
            uid = (doc.get("request") or {}).get("uid", "-") if isinstance(doc, dict) else "-"
            log.info("%s %s uid=%s: %s", api, verdict, uid, decision.message())

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="webhook-https", daemon=True
        )
        self._thread.start()

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Stop accepting, let reviews in progress answer (the API server is waiting on them), close."""
        self.stopping = True
        self._httpd.shutdown()
        if not self.in_flight.wait_idle(drain_seconds):
            log.warning("stopping with reviews still in progress after %.0fs", drain_seconds)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.decider.close()
        self.registry.close()

    def __enter__(self) -> WebhookServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
