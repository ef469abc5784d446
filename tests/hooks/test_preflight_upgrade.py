"""Preflight on upgrades and autoscaled pools (a GPU pool sized exactly for the release must pass),
and the memory arithmetic of several model instances per GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from glm_tts_hooks.preflight import command
from harness.kmock_cluster import KmockCluster, cpu_node, gpu_node, pod, pvc

from hooks.cli_runner import check, run_command

NS = "glm-tts"
RELEASE_LABELS = {"app.kubernetes.io/name": "glm-tts", "app.kubernetes.io/instance": "prod"}
RELEASE_SELECTOR = "app.kubernetes.io/name=glm-tts,app.kubernetes.io/instance=prod"


def preflight(kubeconfig: Path, *extra: str) -> tuple[int, dict]:
    # GPU nodes carry nvidia.com/gpu=present:NoSchedule (as GKE's do); the release tolerates it.
    base = ["preflight", "--namespace", NS, "--toleration", "nvidia.com/gpu:NoSchedule"]
    return run_command(command, [*base, "--kubeconfig", str(kubeconfig), *extra])


def release_pod(name: str, node: str, gpus: int = 1) -> dict:
    obj = pod(name, NS, node, gpus=gpus)
    obj["metadata"]["labels"] = dict(RELEASE_LABELS)
    return obj


def pool_running_the_release(cluster: KmockCluster) -> None:
    """Two 1-GPU nodes, both taken by the release's own 2 replicas: nothing else is free."""
    cluster.add(
        gpu_node("gpu-a", gpus=1),
        gpu_node("gpu-b", gpus=1),
        release_pod("prod-glm-tts-1", "gpu-a"),
        release_pod("prod-glm-tts-2", "gpu-b"),
        pod("other-team", "ml", "gpu-b", gpus=0),  # a CPU pod on a GPU node changes nothing
    )


def test_without_the_selector_the_release_blocks_its_own_upgrade(
    cluster: KmockCluster, kubeconfig: Path
) -> None:
    pool_running_the_release(cluster)
    rc, report = preflight(kubeconfig, "--replicas", "2")
    assert rc == 1 and check(report, "gpu-capacity")["status"] == "fail"


def test_the_release_own_pods_do_not_count_as_used(cluster: KmockCluster, kubeconfig: Path) -> None:
    pool_running_the_release(cluster)
    rc, report = preflight(kubeconfig, "--replicas", "2", "--release-selector", RELEASE_SELECTOR)
    row = check(report, "gpu-capacity")
    assert rc == 0 and row["status"] == "pass", row
    assert "2 held by this release's 2 pods not counted" in row["detail"]
    assert report["summary"]["gpus_of_this_release"] == 2


def test_surge_is_asked_for_on_an_upgrade_only(cluster: KmockCluster, kubeconfig: Path) -> None:
    pool_running_the_release(cluster)
    rc, report = preflight(
        kubeconfig, "--replicas", "2", "--release-selector", RELEASE_SELECTOR, "--surge", "1"
    )
    row = check(report, "gpu-capacity")
    assert rc == 1 and row["status"] == "fail" and "2 replica(s) + 1 surge" in row["detail"]
    assert "maxSurge 0" in row["fix"]


def test_surge_is_not_asked_for_on_a_first_install(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", gpus=1), gpu_node("gpu-b", gpus=1))
    rc, report = preflight(
        kubeconfig, "--replicas", "2", "--release-selector", RELEASE_SELECTOR, "--surge", "1"
    )
    assert rc == 0 and "surge" not in check(report, "gpu-capacity")["detail"]


def test_pods_of_another_release_still_count(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", gpus=1))
    other = release_pod("staging-glm-tts-1", "gpu-a")
    other["metadata"]["labels"]["app.kubernetes.io/instance"] = "staging"
    cluster.add(other)
    rc, report = preflight(kubeconfig, "--release-selector", RELEASE_SELECTOR)
    assert rc == 1 and check(report, "gpu-capacity")["status"] == "fail"


def test_full_pool_with_an_autoscaler_is_a_warning(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", gpus=1), pod("trainer", "ml", "gpu-a", gpus=1))
    rc, report = preflight(kubeconfig, "--node-autoscaler")
    row = check(report, "gpu-capacity")
    assert rc == 0 and row["status"] == "warn" and "autoscaler must add room for 1" in row["detail"]
    rc, _ = preflight(kubeconfig, "--node-autoscaler", "--fail-on-warning")
    assert rc == 1


def test_scale_from_zero_pool_is_a_warning_with_an_autoscaler(
    cluster: KmockCluster, kubeconfig: Path
) -> None:
    cluster.add(cpu_node("cpu-a"), cpu_node("cpu-b"))
    selector = ["--node-selector", "nvidia.com/gpu.present=true"]
    rc, report = preflight(kubeconfig, *selector)
    assert rc == 1 and check(report, "nodes")["status"] == "fail"
    rc, report = preflight(kubeconfig, *selector, "--node-autoscaler=true")
    row = check(report, "nodes")
    assert rc == 0 and row["status"] == "warn" and "autoscaler must add one" in row["detail"]
    assert check(report, "device-plugin")["status"] == "skip"


def test_cpu_nodes_only_with_an_autoscaler_warn_at_the_device_plugin(
    cluster: KmockCluster, kubeconfig: Path
) -> None:
    cluster.add(cpu_node("cpu-a"))
    rc, report = preflight(kubeconfig, "--node-autoscaler")
    assert rc == 0 and check(report, "device-plugin")["status"] == "warn"


def test_gpu_nodes_without_a_device_plugin_fail_even_with_an_autoscaler(
    cluster: KmockCluster, kubeconfig: Path
) -> None:
    node = gpu_node("gpu-a")
    node["status"]["allocatable"].pop("nvidia.com/gpu")
    cluster.add(node)
    rc, report = preflight(kubeconfig, "--node-autoscaler")
    assert rc == 1 and check(report, "device-plugin")["status"] == "fail"


def test_tainted_nodes_fail_even_with_an_autoscaler(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", taints=[{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]))
    rc, report = preflight(kubeconfig, "--node-autoscaler")
    assert rc == 1 and check(report, "nodes")["status"] == "fail"


@pytest.mark.parametrize(("instances", "status"), [(1, "pass"), (2, "pass"), (3, "fail")])
def test_gpu_memory_covers_every_instance(
    cluster: KmockCluster, kubeconfig: Path, instances: int, status: str
) -> None:
    """A 24 GB L4 (GFD: 23034 MiB) and 10,000 MiB per instance: two fit, three do not."""
    cluster.add(gpu_node("l4-a", gpus=1, product="NVIDIA-L4", memory_mib=23034))
    _, report = preflight(kubeconfig, "--min-gpu-memory-mib", "10000", "--instances-per-gpu", str(instances))
    row = check(report, "gpu-memory")
    assert row["status"] == status, row
    if instances > 1:
        assert f"{instances * 10000} MiB ({instances} instances x 10000 MiB)" in row["detail"]
    if status == "fail":
        assert "fewer model instances per GPU" in row["fix"]


def test_mig_slice_memory_covers_every_instance(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("mig-a", mig={"3g.40gb": (2, 40192)}))
    args = ["--gpu-resource", "nvidia.com/mig-3g.40gb", "--min-gpu-memory-mib", "10000"]
    assert (
        check(preflight(kubeconfig, *args, "--instances-per-gpu", "4")[1], "gpu-memory")["status"] == "pass"
    )
    assert (
        check(preflight(kubeconfig, *args, "--instances-per-gpu", "5")[1], "gpu-memory")["status"] == "fail"
    )


@pytest.mark.parametrize(("modes", "status"), [(("ReadWriteOnce",), "warn"), (("ReadWriteMany",), "pass")])
def test_surge_with_a_read_write_once_model_volume_warns(
    cluster: KmockCluster, kubeconfig: Path, modes: tuple[str, ...], status: str
) -> None:
    cluster.add(gpu_node("gpu-a", gpus=2), pvc("models", NS, access_modes=modes))
    _, report = preflight(kubeconfig, "--pvc", "models", "--surge", "1")
    row = check(report, "storage")
    assert row["status"] == status
    if status == "warn":
        assert "Multi-Attach" in row["detail"] and "Recreate" in row["fix"]
    _, report = preflight(kubeconfig, "--pvc", "models", "--surge", "0")
    assert check(report, "storage")["status"] == "pass"
