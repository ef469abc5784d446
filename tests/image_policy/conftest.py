"""Fixtures: a test CA, a real HTTPS webhook server on 127.0.0.1, and a client that trusts only the CA."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from glm_tts_hooks.image_policy.server import ImagePolicyServer, ServerConfig

from image_policy.pki import CertificateAuthority
from image_policy.registry_fixture import oci_registry  # noqa: F401 - re-exported fixture


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


class WebhookStarter:
    """Starts webhooks (server + client trusting only the test CA) and stops them all at close()."""

    def __init__(self, workdir: Path, tls_files: tuple[Path, Path], ca_context: ssl.SSLContext) -> None:
        self.workdir, self.tls_files, self.ca_context = workdir, tls_files, ca_context
        self.started: list[tuple[ImagePolicyServer, httpx.Client]] = []

    def __call__(
        self, policy: dict, registry_auth: Path | None = None
    ) -> tuple[ImagePolicyServer, httpx.Client]:
        policy_file = write_policy(self.workdir / f"policy-{len(self.started)}.yaml", policy)
        server = ImagePolicyServer(
            ServerConfig(
                cert_file=str(self.tls_files[0]),
                key_file=str(self.tls_files[1]),
                policy_file=str(policy_file),
                host="127.0.0.1",
                port=0,
                registry_auth_file=str(registry_auth) if registry_auth else None,
            )
        )
        server.start()
        host, port = server.address
        client = httpx.Client(base_url=f"https://{host}:{port}", verify=self.ca_context, timeout=10)
        self.started.append((server, client))
        return server, client

    def close(self) -> None:
        for server, client in self.started:
            client.close()
            server.stop()


@pytest.fixture
def start_webhook(tmp_path: Path, tls_files, ca_context) -> Iterator[WebhookStarter]:
    """Start a webhook with the given policy dict; returns (server, client). All are stopped after."""
    starter = WebhookStarter(tmp_path, tls_files, ca_context)
    yield starter
    starter.close()


@pytest.fixture(scope="module")
def module_webhook(tmp_path_factory, test_ca: CertificateAuthority) -> Iterator[WebhookStarter]:
    """Like start_webhook, shared by a module's tests (for read-only use such as the case table)."""
    workdir = tmp_path_factory.mktemp("webhook")
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    test_ca.issue(cert, key)
    starter = WebhookStarter(workdir, (cert, key), ssl.create_default_context(cadata=test_ca.pem().decode()))
    yield starter
    starter.close()
