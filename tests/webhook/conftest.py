"""Fixtures: a test CA, a real HTTPS webhook server on 127.0.0.1, and a client that trusts only the CA."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from glm_tts_hooks.webhook.server import ServerConfig, WebhookServer

from webhook.pki import CertificateAuthority
from webhook.registry_fixture import oci_registry  # noqa: F401 - re-exported fixture


@pytest.fixture(scope="session")
def test_ca() -> CertificateAuthority:
    return CertificateAuthority.create()


@pytest.fixture
def tls_files(tmp_path: Path, test_ca: CertificateAuthority) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    test_ca.issue(cert, key)
    return cert, key


@pytest.fixture
def ca_context(test_ca: CertificateAuthority) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=test_ca.pem().decode())
    return context


def write_policy(path: Path, policy: dict) -> Path:
    path.write_text(yaml.safe_dump(policy))
    return path


@pytest.fixture
def start_webhook(
    tmp_path: Path, tls_files, ca_context
) -> Iterator[Callable[..., tuple[WebhookServer, httpx.Client]]]:
    """Start a webhook with the given policy dict; returns (server, client). All are stopped after."""
    started: list[tuple[WebhookServer, httpx.Client]] = []

    def start(policy: dict, registry_auth: Path | None = None) -> tuple[WebhookServer, httpx.Client]:
        policy_file = write_policy(tmp_path / f"policy-{len(started)}.yaml", policy)
        server = WebhookServer(
            ServerConfig(
                cert_file=str(tls_files[0]),
                key_file=str(tls_files[1]),
                policy_file=str(policy_file),
                host="127.0.0.1",
                port=0,
                registry_auth_file=str(registry_auth) if registry_auth else None,
            )
        )
        server.start()
        host, port = server.address
        client = httpx.Client(base_url=f"https://{host}:{port}", verify=ca_context, timeout=10)
        started.append((server, client))
        return server, client

    yield start
    for server, client in started:
        client.close()
        server.stop()
