"""`glm-tts-hooks preflight` against realistic clusters served by kmock over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from glm_tts_hooks.kube import Kube
from glm_tts_hooks.preflight import command
from glm_tts_hooks.preflight.checks import Preflight
from glm_tts_hooks.preflight.options import Options, Toleration
from harness.kmock_cluster import (
    KmockCluster,
    cpu_node,
    gpu_node,
    namespace_obj,
    pod,
    pvc,
    resource_quota,
    runtime_class,
    storage_class,
)

from hooks.cli_runner import check, run_command

NS = "glm-tts"
GPU_RELEASE = [
    "preflight",
    "--namespace",
    NS,
    "--node-selector",
    "nvidia.com/gpu.present=true",
    "--toleration",
    "nvidia.com/gpu:NoSchedule",
    "--cuda-version",
    "12.4",
]


def preflight(kubeconfig: Path, *extra: str) -> tuple[int, dict]:
    return run_command(command, [*GPU_RELEASE, "--kubeconfig", str(kubeconfig), *extra])


def healthy_cluster(cluster: KmockCluster) -> None:
    cluster.add(
        gpu_node("gpu-a"),
        gpu_node("gpu-b"),
        gpu_node("gpu-c", gpus=4),
        cpu_node("cpu-a"),
        cpu_node("cpu-b"),
        namespace_obj(NS),
        runtime_class("nvidia"),
        storage_class("gp3", default=True),
        resource_quota(
            "gpus", NS, hard={"requests.nvidia.com/gpu": "4"}, used={"requests.nvidia.com/gpu": "1"}
        ),
        pod("trainer", "ml", "gpu-a", gpus=8),
        pod("done", "ml", "gpu-b", gpus=8, phase="Succeeded"),
    )


def test_healthy_gpu_cluster_passes_every_check(cluster: KmockCluster, kubeconfig: Path) -> None:
    healthy_cluster(cluster)
    rc, report = preflight(kubeconfig, "--replicas", "2", "--runtime-class", "nvidia", "--storage-class", "")
    assert rc == 0, report
    assert report["ok"] is True and report["error"] is None
    assert {row["status"] for row in report["checks"]} == {"pass"}
    assert "v1.31.4" in check(report, "api")["detail"]
    assert check(report, "nodes")["detail"].startswith("3 of 5 nodes can take the pod")
    # gpu-a is full (8 requested by a Running pod); the Succeeded pod on gpu-b holds nothing.
    assert report["summary"]["gpus_in_use"] == 8
    assert report["summary"]["gpus_free"] == 12
    assert report["summary"]["nodes_total"] == 5
    assert "NVIDIA-H100-80GB-HBM3 (81559 MiB) x20" in check(report, "gpu-memory")["detail"]
    assert "room 3" in check(report, "gpu-quota")["detail"]
    assert "'gp3'" in check(report, "storage")["detail"]


def test_cluster_without_gpu_nodes_names_the_device_plugin(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(cpu_node("cpu-a"), cpu_node("cpu-b"))
    rc, report = run_command(command, ["preflight", "--namespace", NS, "--kubeconfig", str(kubeconfig)])
    assert rc == 1
    row = check(report, "device-plugin")
    assert row["status"] == "fail"
    assert "none of the 2 usable nodes advertises nvidia.com/gpu" in row["detail"]
    assert "GPU Operator" in row["fix"]
    assert check(report, "gpu-capacity")["status"] == "skip"


def test_gpu_nodes_without_the_selector_labels_are_reported(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", gfd=False, extra_labels={}), cpu_node("cpu-a"))
    rc, report = run_command(
        command,
        [
            "preflight",
            "--namespace",
            NS,
            "--kubeconfig",
            str(kubeconfig),
            "--node-selector",
            "pool=gpu",
            "--toleration",
            "nvidia.com/gpu:NoSchedule",
        ],
    )
    assert rc == 1
    row = check(report, "nodes")
    assert row["status"] == "fail"
    assert "2 lack the labels pool=gpu" in row["detail"]
    assert "kubectl label node NAME pool=gpu" in row["fix"]


def test_untolerated_gpu_taint_is_named_with_the_toleration_to_add(
    cluster: KmockCluster, kubeconfig: Path
) -> None:
    cluster.add(gpu_node("gpu-a"), gpu_node("gpu-b"))
    rc, report = run_command(command, ["preflight", "--namespace", NS, "--kubeconfig", str(kubeconfig)])
    assert rc == 1
    row = check(report, "nodes")
    assert "2 have taints the pod does not tolerate (nvidia.com/gpu=present:NoSchedule)" in row["detail"]
    assert "--toleration nvidia.com/gpu=present:NoSchedule" in row["fix"]


def test_old_driver_fails_for_a_cuda_12_image(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(
        gpu_node("gpu-old-1", driver="470.256.02", cuda="11.4"),
        gpu_node("gpu-old-2", driver="470.256.02", cuda="11.4"),
    )
    rc, report = preflight(kubeconfig)
    assert rc == 1
    row = check(report, "gpu-driver")
    assert row["status"] == "fail"
    assert "470.256.02" in row["detail"] and "CUDA 12.4 needs driver >= 525.60.13" in row["detail"]
    assert "upgrade the NVIDIA driver to >= 525.60.13" in row["fix"]


def test_one_old_driver_node_warns_and_is_left_out_of_capacity(
    cluster: KmockCluster, kubeconfig: Path
) -> None:
    cluster.add(
        gpu_node("gpu-new", driver="550.127.05"), gpu_node("gpu-old", driver="470.256.02", legacy_gfd=True)
    )
    rc, report = preflight(kubeconfig)
    assert rc == 0
    row = check(report, "gpu-driver")
    assert row["status"] == "warn"
    assert "gpu-old (470.256.02)" in row["detail"]
    assert report["summary"]["gpus_free"] == 8  # only gpu-new counts
    rc, _ = preflight(kubeconfig, "--fail-on-warning")
    assert rc == 1


@pytest.mark.parametrize(
    ("cuda", "driver", "ok"),
    [
        ("11.8", "520.61.05", True),
        ("11.8", "515.105.01", False),
        ("13.0", "575.57.08", False),
        ("13.0", "580.65.06", True),
    ],
)
def test_driver_minimum_follows_the_image_cuda(
    cluster: KmockCluster, kubeconfig: Path, cuda: str, driver: str, ok: bool
) -> None:
    cluster.add(gpu_node("gpu-a", driver=driver))
    rc, report = run_command(command, [*GPU_RELEASE[:-1], cuda, "--kubeconfig", str(kubeconfig)])
    assert check(report, "gpu-driver")["status"] == ("pass" if ok else "fail")
    assert rc == (0 if ok else 1)


def test_mig_nodes_need_a_mig_resource_request(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("mig-a", mig={"1g.10gb": (14, 9984), "3g.40gb": (4, 40192)}))
    rc, report = preflight(kubeconfig)
    assert rc == 1
    row = check(report, "device-plugin")
    assert "nvidia.com/mig-1g.10gb" in row["detail"]
    assert "MIG-partitioned" in row["fix"] and "--gpu-resource nvidia.com/mig-" in row["fix"]

    rc, report = preflight(kubeconfig, "--gpu-resource", "nvidia.com/mig-1g.10gb")
    assert rc == 1
    row = check(report, "gpu-memory")
    assert row["status"] == "fail"
    assert "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb (9984 MiB)" in row["detail"]
    assert "larger MIG profile" in row["fix"]

    rc, report = preflight(kubeconfig, "--gpu-resource", "nvidia.com/mig-3g.40gb", "--replicas", "4")
    assert rc == 0, report
    assert report["summary"]["replica_slots"] == 4


def test_gpus_already_requested_leave_no_room(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", gpus=8), *[pod(f"job-{i}", "ml", "gpu-a", gpus=2) for i in range(4)])
    rc, report = preflight(kubeconfig)
    assert rc == 1
    row = check(report, "gpu-capacity")
    assert row["status"] == "fail"
    assert "0 free of 8" in row["detail"] and "8 requested by running pods" in row["detail"]
    assert "scale down other GPU workloads" in row["fix"]


def test_replicas_sharing_one_node_warn(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a", gpus=8))
    rc, report = preflight(kubeconfig, "--replicas", "2")
    assert rc == 0
    assert check(report, "gpu-capacity")["status"] == "warn"


def test_cordoned_and_not_ready_nodes_are_not_counted(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-cordoned", unschedulable=True), gpu_node("gpu-down", ready=False))
    rc, report = preflight(kubeconfig)
    assert rc == 1
    row = check(report, "nodes")
    assert "1 are NotReady (gpu-down)" in row["detail"] and "1 are cordoned (gpu-cordoned)" in row["detail"]
    assert "kubectl uncordon gpu-cordoned" in row["fix"]


def test_exhausted_quota_fails_with_the_quota_to_raise(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(
        gpu_node("gpu-a"),
        resource_quota(
            "team-gpus", NS, hard={"requests.nvidia.com/gpu": "2"}, used={"requests.nvidia.com/gpu": "2"}
        ),
    )
    rc, report = preflight(kubeconfig)
    assert rc == 1
    row = check(report, "gpu-quota")
    assert row["status"] == "fail"
    assert "hard 2, used 2, room 0" in row["detail"]
    assert "raise requests.nvidia.com/gpu in ResourceQuota team-gpus to >= 3" in row["fix"]


def test_missing_runtime_class_fails(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a"))
    rc, report = preflight(kubeconfig, "--runtime-class", "nvidia")
    assert rc == 1
    row = check(report, "runtime-class")
    assert row["status"] == "fail" and "RuntimeClass 'nvidia' does not exist" in row["detail"]
    assert "create RuntimeClass 'nvidia'" in row["fix"]


def test_runtime_class_scheduling_rules_apply(cluster: KmockCluster, kubeconfig: Path) -> None:
    rc_obj = runtime_class("nvidia")
    rc_obj["scheduling"] = {"nodeSelector": {"pool": "h100"}}
    cluster.add(rc_obj, gpu_node("gpu-a", extra_labels={"pool": "h100"}), gpu_node("gpu-b"))
    rc, report = preflight(kubeconfig, "--runtime-class", "nvidia")
    assert rc == 0
    assert check(report, "nodes")["detail"].startswith("1 of 2 nodes")


def test_storage_missing_pvc_and_missing_default_class(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a"), storage_class("gp3"), pvc("models", "other-ns"))
    rc, report = preflight(kubeconfig, "--pvc", "models")
    assert rc == 1
    assert "'models' not found in glm-tts" in check(report, "storage")["detail"]
    rc, report = preflight(kubeconfig, "--storage-class", "")
    assert rc == 1
    row = check(report, "storage")
    assert "no default StorageClass (classes: gp3)" in row["detail"]
    assert "is-default-class=true" in row["fix"]
    cluster.add(pvc("models", NS, access_modes=("ReadOnlyMany",)))
    rc, report = preflight(kubeconfig, "--pvc", "models", "--replicas", "2")
    assert check(report, "storage")["status"] == "pass"


def test_rbac_denial_is_a_failed_check_that_names_the_grant(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a"))
    cluster.forbid("list", "nodes")
    cluster.forbid("list", "resourcequotas", namespace=NS)
    rc, report = preflight(kubeconfig)
    assert rc == 1
    assert report["error"] is None
    row = check(report, "permissions")
    assert row["status"] == "fail"
    assert "cannot list nodes cluster-wide" in row["detail"]
    assert 'cannot list resourcequotas in namespace "glm-tts"' in row["detail"]
    assert 'ClusterRole rule {apiGroups: [""], resources: ["nodes"]' in row["fix"]
    assert "Role in glm-tts rule" in row["fix"]
    assert check(report, "nodes")["status"] == "skip"
    assert check(report, "gpu-quota")["status"] == "skip"


def test_403_on_the_request_itself_fails_that_check(cluster: KmockCluster, kubeconfig: Path) -> None:
    """Access review allowed (or not asked), but the request is refused: still a verdict, not a crash."""
    cluster.add(gpu_node("gpu-a"))
    cluster.fail(
        "list", "pods", status=403, reason="Forbidden", message="pods is forbidden: admission denied"
    )
    rc, report = preflight(kubeconfig)
    assert rc == 1
    row = check(report, "gpu-capacity")
    assert row["status"] == "fail" and "pods is forbidden" in row["detail"]
    assert 'resources: ["pods"]' in row["fix"]


def test_api_500_is_a_usage_or_api_error(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a"))
    cluster.fail("list", "nodes", status=500, message="etcdserver: leader changed")
    rc, report = preflight(kubeconfig)
    assert rc == 2
    assert report["ok"] is False
    assert "list nodes: the API server answered 500" in report["error"]
    assert "etcdserver: leader changed" in report["error"]


def test_api_timeout_is_reported_with_the_limit(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(gpu_node("gpu-a"))
    cluster.delay("list", "pods", seconds=2)
    rc, report = preflight(kubeconfig, "--request-timeout", "0.3")
    assert rc == 2
    assert "list pods: the API server at" in report["error"]
    assert "did not answer within 0.3 s" in report["error"]


def test_unreachable_api_server_is_exit_2(tmp_path: Path) -> None:
    from harness.kmock_cluster import running_cluster

    with running_cluster() as gone:
        kubeconfig = gone.write_kubeconfig(tmp_path / "kubeconfig")
    rc, report = preflight(kubeconfig)
    assert rc == 2
    assert "cannot reach the API server" in report["error"]


def test_cpu_only_release_skips_gpu_checks(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(cpu_node("cpu-a"))
    rc, report = run_command(
        command, ["preflight", "--namespace", NS, "--gpu-count", "0", "--kubeconfig", str(kubeconfig)]
    )
    assert rc == 0
    for name in ("device-plugin", "gpu-driver", "gpu-memory", "gpu-capacity", "gpu-quota"):
        row = check(report, name)
        assert row["status"] == "skip" and "CPU-only release" in row["detail"]


def test_node_lists_are_paginated(cluster: KmockCluster) -> None:
    cluster.add(
        *[gpu_node(f"gpu-{i:02d}", gpus=1) for i in range(10)],
        *[pod(f"p-{i}", "ml", f"gpu-{i:02d}", gpus=1) for i in range(7)],
    )
    options = Options(namespace=NS, replicas=3, tolerations=(Toleration("nvidia.com/gpu", "Exists"),))
    with Kube(cluster.configuration(), request_timeout=5, page_size=3) as kube:
        report = Preflight(kube, options).run()
    assert report.figures["nodes_total"] == 10
    assert report.figures["gpus_free"] == 3 and report.figures["gpus_in_use"] == 7
    node_lists = [r for r in cluster.requests if r.url.path == "/api/v1/nodes"]
    assert [r.params.get("limit") for r in node_lists] == ["3"] * 4
    assert [bool(r.params.get("continue")) for r in node_lists] == [False, True, True, True]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--toleration", "nvidia.com/gpu"], "expected KEY[=VALUE]:EFFECT"),
        (["--toleration", "a=b:Sometimes"], "effect must be one of"),
        (["--node-selector", "justakey"], "expected KEY=VALUE"),
        (["--cuda-version", "twelve"], "expected MAJOR.MINOR"),
        (["--cuda-version", "10.2"], "no known driver minimum"),
    ],
)
def test_bad_flags_exit_2_with_what_to_fix(
    kubeconfig: Path, capsys: pytest.CaptureFixture[str], flag: list[str], message: str
) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["preflight", "--namespace", NS, "--kubeconfig", str(kubeconfig), *flag])
    assert args.func(args) == 2
    assert message in capsys.readouterr().err


def test_table_output_lists_checks_and_fixes(
    cluster: KmockCluster, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    cluster.add(cpu_node("cpu-a"))
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["preflight", "--namespace", NS, "--kubeconfig", str(kubeconfig)])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    for text in ("device-plugin", "fail", "GPU Operator", "NOT OK"):
        assert text in out


def test_console_script_uses_kubeconfig_env_and_context(cluster: KmockCluster, tmp_path: Path) -> None:
    """The installed `glm-tts-hooks` entry point, as the chart's Job and the Tekton step run it."""
    cluster.add(cpu_node("cpu-a"))
    kubeconfig = cluster.write_kubeconfig(tmp_path / "config", context="lab")
    script = Path(sys.executable).with_name("glm-tts-hooks")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    done = subprocess.run(
        [
            str(script),
            "preflight",
            "--namespace",
            NS,
            "--context",
            "lab",
            "--gpu-count",
            "0",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["nodes_total"] == 1

    done = subprocess.run(
        [str(script), "preflight", "--namespace", NS, "--context", "nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no usable cluster configuration" in done.stdout and "--context NAME" in done.stdout
    assert "Traceback" not in done.stderr


def test_closed_version_endpoint_only_warns(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(cpu_node("cpu-a"))
    cluster.fail(
        "get", "/version/", status=403, reason="Forbidden", message='forbidden: cannot get path "/version"'
    )
    rc, report = run_command(
        command, ["preflight", "--namespace", NS, "--gpu-count", "0", "--kubeconfig", str(kubeconfig)]
    )
    assert rc == 0
    row = check(report, "api")
    assert row["status"] == "warn" and "cannot read the server version" in row["detail"]


def test_mig_memory_without_gfd_is_read_conservatively(cluster: KmockCluster, kubeconfig: Path) -> None:
    node = gpu_node("mig-a", mig={"1g.10gb": (7, 9984)})
    node["metadata"]["labels"] = {k: v for k, v in node["metadata"]["labels"].items() if ".memory" not in k}
    cluster.add(node)
    rc, report = preflight(kubeconfig, "--gpu-resource", "nvidia.com/mig-1g.10gb")
    assert rc == 1
    assert "(10000 MiB)" in check(report, "gpu-memory")["detail"]


@pytest.mark.parametrize(
    ("flag", "taint", "tolerated"),
    [
        (
            "nvidia.com/gpu:NoSchedule",
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
            True,
        ),
        (
            "nvidia.com/gpu=present:NoSchedule",
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
            True,
        ),
        (
            "nvidia.com/gpu=absent:NoSchedule",
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
            False,
        ),
        ("nvidia.com/gpu:NoSchedule", {"key": "nvidia.com/gpu", "effect": "NoExecute"}, False),
        (
            "nvidia.com/gpu=present:",
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoExecute"},
            True,
        ),
        (
            ":",
            {"key": "anything", "value": "x", "effect": "NoExecute"},
            True,
        ),  # empty key + Exists: all taints
        ("dedicated=ml:NoSchedule", {"key": "nvidia.com/gpu", "effect": "NoSchedule"}, False),
    ],
)
def test_toleration_flags_follow_the_scheduler(flag: str, taint: dict, tolerated: bool) -> None:
    from glm_tts_hooks.preflight.options import parse_toleration
    from glm_tts_hooks.preflight.scheduling import tolerates, untolerated_taints

    assert tolerates(parse_toleration(flag), taint) is tolerated
    soft = {**taint, "effect": "PreferNoSchedule"}  # never keeps a pod off a node
    assert untolerated_taints({"spec": {"taints": [soft]}}, []) == []


def test_pod_gpu_request_counts_init_containers_sidecars_and_overhead() -> None:
    from glm_tts_hooks.preflight.scheduling import pod_request

    def container(gpus: int, *, requests: bool = False, sidecar: bool = False) -> dict:
        key = "requests" if requests else "limits"
        spec = {"name": "c", "resources": {key: {"nvidia.com/gpu": str(gpus)}}}
        return {**spec, "restartPolicy": "Always"} if sidecar else spec

    app_only = {"spec": {"containers": [container(1), container(2, requests=True)]}}
    assert pod_request(app_only, "nvidia.com/gpu") == 3
    big_init = {"spec": {"initContainers": [container(4)], "containers": [container(1)]}}
    assert pod_request(big_init, "nvidia.com/gpu") == 4  # init containers run one at a time, before the app
    with_sidecar = {
        "spec": {
            "initContainers": [container(1, sidecar=True), container(2)],
            "containers": [container(1)],
            "overhead": {"nvidia.com/gpu": "1"},
        }
    }
    assert pod_request(with_sidecar, "nvidia.com/gpu") == 4  # max(1+2, 1+1) + overhead 1
    assert pod_request({"spec": {"containers": [{"name": "c"}]}}, "nvidia.com/gpu") == 0
