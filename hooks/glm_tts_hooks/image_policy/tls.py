"""The serving certificate, re-read when its files change (cert-manager rotation) without a restart.

uvicorn wraps every connection with one listening SSLContext. Its servername callback runs at
the start of each handshake, with or without SNI, and hands the connection the context built
from the files as they are now: a stat of both files (microseconds) per handshake, a rebuild
only when they changed. A broken pair (e.g. the cert written, the key not yet) keeps the
previous context and is retried on the next change.
"""

from __future__ import annotations

import logging
import ssl
import threading

from glm_tts_hooks.image_policy.files import file_stamp
from glm_tts_hooks.image_policy.metrics import WebhookMetrics

log = logging.getLogger(__name__)


def serving_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_file, key_file)
    return context


class ReloadingTLS:
    def __init__(self, cert_file: str, key_file: str, metrics: WebhookMetrics) -> None:
        self.cert_file, self.key_file, self._metrics = cert_file, key_file, metrics
        self._lock = threading.Lock()
        self._stamp = file_stamp(cert_file, key_file)
        self._context = serving_context(cert_file, key_file)  # startup: let the error propagate
        self.listener = serving_context(cert_file, key_file)
        self.listener.sni_callback = self._select

    def _select(self, connection: ssl.SSLObject, _server_name: str | None, _ctx: ssl.SSLContext) -> None:
        connection.context = self.current()

    def current(self) -> ssl.SSLContext:
        stamp = file_stamp(self.cert_file, self.key_file)
        if stamp == self._stamp or stamp is None:
            return self._context
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._context = serving_context(self.cert_file, self.key_file)
                except (OSError, ssl.SSLError) as exc:
                    self._metrics.certificate_reloads.labels("error").inc()
                    log.error("certificate reload failed, serving the previous one: %s", exc)
                else:
                    self._metrics.certificate_reloads.labels("ok").inc()
                    log.info("certificate reloaded from %s", self.cert_file)
            return self._context
