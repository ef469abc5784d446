"""Client construction: service account in a pod, kubeconfig elsewhere, clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from glm_tts_hooks import kube
from kubernetes.config import incluster_config


@pytest.fixture
def pod_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the kubelet mounts into a pod, in a temporary folder."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token-123")
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(kube, "SERVICE_ACCOUNT_TOKEN", token)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    return token


def test_in_a_pod_the_service_account_is_used(pod_service_account: Path) -> None:
    configuration = kube.load_configuration()
    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.auth_settings()["BearerToken"]["value"].lower() == "bearer sa-token-123"
    assert configuration.retries.read == 0  # a timed-out read is not silently repeated


def test_an_explicit_kubeconfig_wins_over_the_service_account(
    pod_service_account: Path, tmp_path: Path
) -> None:
    from harness.kmock_cluster import running_cluster

    with running_cluster() as cluster:
        path = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        assert kube.load_configuration(str(path)).host == cluster.url


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(kube.KubeError, match=r"no usable cluster configuration .*pass --kubeconfig PATH"):
        kube.load_configuration()


def test_names_in_api_paths_are_escaped() -> None:
    assert kube.path("/api/v1/namespaces/{}/pods/{}", "ns", "a/b c") == "/api/v1/namespaces/ns/pods/a%2Fb%20c"


def test_requests_carry_the_kubeconfig_token_and_escape_query_values(tmp_path: Path) -> None:
    from harness.kmock_cluster import gpu_node, running_cluster

    with running_cluster() as cluster:
        cluster.add(gpu_node("gpu-a"))
        configuration = kube.load_configuration(str(cluster.write_kubeconfig(tmp_path / "kubeconfig")))
        with kube.Kube(configuration) as api:
            nodes = list(api.list_all("list nodes", "/api/v1/nodes", labelSelector="a in (b, c)"))
            assert api.get("get node absent", kube.path("/api/v1/nodes/{}", "absent")) is None
        request = next(r for r in cluster.requests if r.url.path == "/api/v1/nodes")
    assert nodes == []  # no node has label a
    assert request.headers["Authorization"] == "Bearer kmock-token"
    assert request.params["labelSelector"] == "a in (b, c)" and request.params["limit"] == "500"
    assert request.headers["User-Agent"].startswith("glm-tts-hooks/")
