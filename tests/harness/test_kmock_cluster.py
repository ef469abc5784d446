"""Self-test of the kmock cluster: the official client talks to it as to a real API server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import urllib3
from kubernetes import client, config

from harness.kmock_cluster import KmockCluster, cpu_node, gpu_node, pod, running_cluster


@pytest.fixture
def cluster() -> KmockCluster:
    with running_cluster() as served:
        yield served


def test_official_client_lists_nodes(cluster: KmockCluster) -> None:
    cluster.add(gpu_node("gpu-1"), cpu_node("cpu-1"))
    with cluster.api_client() as api:
        nodes = client.CoreV1Api(api).list_node()
    assert sorted(n.metadata.name for n in nodes.items) == ["cpu-1", "gpu-1"]
    gpu = next(n for n in nodes.items if n.metadata.name == "gpu-1")
    assert gpu.status.allocatable["nvidia.com/gpu"] == "8"
    assert gpu.spec.taints[0].key == "nvidia.com/gpu"
    assert cluster.url.startswith("http://127.0.0.1:")


def test_pagination_honours_limit_and_continue(cluster: KmockCluster) -> None:
    cluster.add(*[cpu_node(f"node-{i:02d}") for i in range(7)])
    names, token, pages = [], None, 0
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        while True:
            page = core.list_node(limit=3, _continue=token) if token else core.list_node(limit=3)
            pages += 1
            names += [n.metadata.name for n in page.items]
            token = page.metadata._continue
            if not token:
                break
            assert page.metadata.remaining_item_count == 7 - len(names)
    assert pages == 3
    assert names == [f"node-{i:02d}" for i in range(7)]


def test_a_bad_continue_token_is_rejected(cluster: KmockCluster) -> None:
    cluster.add(cpu_node("node-1"))
    with cluster.api_client() as api, pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(api).list_node(limit=1, _continue="not-a-token")
    assert caught.value.status == 400
    assert "continue key is not valid" in caught.value.body


def test_field_and_label_selectors(cluster: KmockCluster) -> None:
    cluster.add(
        gpu_node("gpu-1"),
        cpu_node("cpu-1"),
        pod("a", "ml", "gpu-1", gpus=1),
        pod("b", "ml", "gpu-1", phase="Succeeded"),
        pod("c", "web", "cpu-1"),
    )
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        running = core.list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed"
        )
        on_gpu = core.list_namespaced_pod("ml", field_selector="spec.nodeName=gpu-1")
        gpu_nodes = core.list_node(
            label_selector="nvidia.com/gpu.present=true,!node-role.kubernetes.io/control-plane"
        )
        typed = core.list_node(label_selector="node.kubernetes.io/instance-type in (m6i.2xlarge, c6i.large)")
    assert sorted(p.metadata.name for p in running.items) == ["a", "c"]
    assert sorted(p.metadata.name for p in on_gpu.items) == ["a", "b"]
    assert [n.metadata.name for n in gpu_nodes.items] == ["gpu-1"]
    assert [n.metadata.name for n in typed.items] == ["cpu-1"]


def test_injected_403_and_500_surface_as_api_exceptions(cluster: KmockCluster) -> None:
    cluster.add(cpu_node("node-1"))
    cluster.forbid("list", "nodes")
    cluster.fail("list", "pods", status=500, message="etcdserver: request timed out")
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        with pytest.raises(client.ApiException) as forbidden:
            core.list_node()
        with pytest.raises(client.ApiException) as broken:
            core.list_pod_for_all_namespaces()
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": "list", "resource": "nodes"}},
            }
        )
        allowed = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}},
            }
        )
        assert core.read_node("node-1").metadata.name == "node-1"  # only listing was forbidden
    assert forbidden.value.status == 403
    assert 'cannot list resource "nodes"' in json.loads(forbidden.value.body)["message"]
    assert broken.value.status == 500 and "etcdserver" in broken.value.body
    assert review.status.allowed is False and allowed.status.allowed is True


def test_slow_answers_trip_client_timeouts(cluster: KmockCluster) -> None:
    cluster.add(cpu_node("node-1"))
    cluster.delay("get", "nodes", seconds=1.5)
    with cluster.api_client() as api:
        api.configuration.retries = 0
        core = client.CoreV1Api(api)
        start = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError):
            core.read_node("node-1", _request_timeout=0.2)
        assert time.monotonic() - start < 1.2  # gave up before the answer came
        assert core.read_node("node-1").metadata.name == "node-1"  # answered, only late


def test_kubeconfig_file_works_with_the_config_loader(cluster: KmockCluster, tmp_path: Path) -> None:
    cluster.add(cpu_node("node-1"))
    path = cluster.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    with config.new_client_from_config(str(path), context="lab", persist_config=False) as api:
        assert [n.metadata.name for n in client.CoreV1Api(api).list_node().items] == ["node-1"]
        assert client.VersionApi(api).get_code().git_version == "v1.31.4"


def test_objects_without_a_namespace_are_refused(cluster: KmockCluster) -> None:
    bad = pod("a", "ml", "node-1")
    del bad["metadata"]["namespace"]
    with pytest.raises(ValueError, match=r"needs metadata\.namespace"):
        cluster.add(bad)


def test_a_finished_list_snapshot_is_gone(cluster: KmockCluster) -> None:
    """Continued pages come from the first page's snapshot; once consumed, its token is 410 Gone."""
    cluster.add(*[cpu_node(f"node-{i}") for i in range(4)])
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        first = core.list_node(limit=2)
        cluster.add(cpu_node("node-0a"))  # a write between pages does not leak into the snapshot
        second = core.list_node(limit=2, _continue=first.metadata._continue)
        assert [n.metadata.name for n in second.items] == ["node-2", "node-3"]
        assert second.metadata._continue is None
        with pytest.raises(client.ApiException) as gone:
            core.list_node(limit=2, _continue=first.metadata._continue)
    assert gone.value.status == 410
