"""The control plane's own parts that need no Kubernetes binaries: its PKI and its egress router."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from harness.cluster_pki import ClusterPKI
from harness.control_plane import gpu_cluster_objects
from harness.egress_router import EgressRouter


def test_issued_certificates_verify_against_the_ca_and_carry_the_identity(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path)
    server = pki.issue("srv", "kube-apiserver", dns_names=("kubernetes.default.svc",),
                       ip_addresses=("127.0.0.1",), server=True)  # fmt: skip
    client = pki.issue("adm", "kubernetes-admin", organizations=("system:masters",), client=True)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server.cert, server.key)
    server_ctx.load_verify_locations(pki.ca.cert)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    client_ctx.load_cert_chain(client.cert, client.key)

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            seen["peer"] = tls.getpeercert()
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="kubernetes.default.svc") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(5)
    listener.close()
    subject = dict(item[0] for item in seen["peer"]["subject"])  # type: ignore[index]
    assert subject == {"organizationName": "system:masters", "commonName": "kubernetes-admin"}


def test_a_client_certificate_is_refused_as_a_server(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path)
    client_only = pki.issue("c", "someone", client=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(client_only.cert, client_only.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with pytest.raises(ssl.SSLError), ctx.wrap_socket(conn, server_side=True):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    client_ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLError):
        client_ctx.wrap_socket(raw)
    thread.join(5)
    listener.close()


def _connect(sock_path: Path, target: str) -> tuple[socket.socket, bytes]:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(5)
    sock.connect(str(sock_path))
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return sock, sock.recv(1024)


def test_egress_router_tunnels_a_routed_service_and_refuses_others(tmp_path: Path) -> None:
    backend = socket.create_server(("127.0.0.1", 0))
    backend_port = backend.getsockname()[1]

    def echo() -> None:
        conn, _ = backend.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())

    thread = threading.Thread(target=echo)
    thread.start()
    router = EgressRouter(tmp_path / "egress.sock")
    try:
        hosts = ["image-policy.glm-tts.svc", "10.96.0.42"]
        router.route(hosts, 443, ("127.0.0.1", backend_port))
        sock, reply = _connect(router.socket_path, "10.96.0.42:443")
        with sock:
            assert reply.startswith(b"HTTP/1.1 200")
            sock.sendall(b"hello")
            assert sock.recv(100) == b"HELLO"
        thread.join(5)

        sock, reply = _connect(router.socket_path, "other.glm-tts.svc:443")
        with sock:
            assert reply.startswith(b"HTTP/1.1 502")
        router.unroute(hosts, 443)
        sock, reply = _connect(router.socket_path, "image-policy.glm-tts.svc:443")
        with sock:
            assert reply.startswith(b"HTTP/1.1 502")
    finally:
        router.close()
        backend.close()


def test_the_cluster_has_gpu_nodes_cpu_nodes_and_a_mig_node_managed_by_kwok() -> None:
    objects = gpu_cluster_objects()
    nodes = [o for o in objects if o["kind"] == "Node"]
    assert all(n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake" for n in nodes)
    gpu = [n for n in nodes if int(n["status"]["allocatable"].get("nvidia.com/gpu", "0")) > 0]
    cpu = [n for n in nodes if "nvidia.com/gpu.present" not in n["metadata"]["labels"]]
    mig = [n for n in nodes if any(k.startswith("nvidia.com/mig-") for k in n["status"]["allocatable"])]
    assert gpu and cpu and mig
    for node in gpu:
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in node["spec"]["taints"]
        assert "nvidia.com/gpu.product" in node["metadata"]["labels"]
    assert any(o["kind"] == "RuntimeClass" and o["metadata"]["name"] == "nvidia" for o in objects)
