"""An HTTP CONNECT egress proxy on a unix socket: how the test API server reaches in-cluster Services.

A real API server calls an admission webhook at `https://<service>.<namespace>.svc:<port>`, which
only the cluster network can resolve. Clusters whose control plane sits outside the pod network
(GKE, EKS with Konnectivity) route that traffic through an egress proxy configured by
`--egress-selector-config-file`; this is that proxy for a test cluster whose pods are kwok's and run
nowhere. The API server resolves a webhook's Service to its ClusterIP and asks the proxy for
`CONNECT <clusterIP>:<port>`, so routes are keyed by the ClusterIP (and the DNS names, for clients
that dial by name). A test routes a Service to the local process that serves it (e.g. the real image-policy
webhook on 127.0.0.1:PORT); the API server still checks TLS against the Service's DNS name and the
webhook configuration's caBundle, exactly as in a cluster.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from pathlib import Path

_MAX_HEADER = 16 * 1024


class EgressRouter:
    """Routes `CONNECT <service>.<namespace>.svc:<port>` to a registered local address."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._routes: dict[tuple[str, int], tuple[str, int]] = {}
        self._lock = threading.Lock()
        self.log: list[str] = []
        router = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                router._serve(self.request)

        socket_path.unlink(missing_ok=True)
        self._server = socketserver.ThreadingUnixStreamServer(str(socket_path), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="egress-router", daemon=True)
        self._thread.start()

    def route(self, hosts: list[str], port: int, target: tuple[str, int]) -> None:
        """Send CONNECTs to any of `hosts` (Service DNS names, its ClusterIP) on `port` to `target`."""
        with self._lock:
            for host in hosts:
                self._routes[(host, port)] = target

    def unroute(self, hosts: list[str], port: int) -> None:
        with self._lock:
            for host in hosts:
                self._routes.pop((host, port), None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.socket_path.unlink(missing_ok=True)

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEADER:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        host, _, port = parts[1].rpartition(":")
        with self._lock:
            target = self._routes.get((host, int(port) if port.isdigit() else -1))
        self.log.append(f"CONNECT {parts[1]} -> {target or 'no route'}")
        if target is None:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\nno route to " + parts[1].encode() + b"\r\n")
            return
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError as exc:
            client.sendall(f"HTTP/1.1 502 Bad Gateway\r\n\r\n{exc}\r\n".encode())
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            leftover = head.split(b"\r\n\r\n", 1)[1]
            if leftover:
                upstream.sendall(leftover)
            _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    a.settimeout(None)
    b.settimeout(None)
    peers = {a: b, b: a}
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ)
        sel.register(b, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select(timeout=60):
                source = key.fileobj
                assert isinstance(source, socket.socket)
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    with contextlib.suppress(OSError):
                        peers[source].shutdown(socket.SHUT_WR)
                    return
                peers[source].sendall(data)
