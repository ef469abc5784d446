"""What the preflight reads off a node's GPU labels and allocatable: driver, memory, product, resources.

The nodes are built the way the device plugin and GPU Feature Discovery (GFD) publish them, and the
GPU checks run on them in memory, so the rows asserted are the ones `glm-tts-hooks preflight` prints.
"""

from __future__ import annotations

from typing import Any

import pytest
from glm_tts_hooks.preflight import gpu
from glm_tts_hooks.preflight.checks import GpuNode, Preflight
from glm_tts_hooks.preflight.options import Options
from glm_tts_hooks.report import Check, Status
from harness.kmock_cluster import cpu_node, gpu_node

H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-40GB"


def labelled(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "n", "labels": labels}}


def without(node: dict[str, Any], *fragments: str) -> dict[str, Any]:
    """The node with every label whose key contains one of the fragments removed (no GFD, old GFD...)."""
    labels = node["metadata"]["labels"]
    node["metadata"]["labels"] = {k: v for k, v in labels.items() if not any(f in k for f in fragments)}
    return node


def only_row(preflight: Preflight) -> Check:
    (row,) = preflight.report.checks
    return row


def gpu_nodes(*nodes: dict[str, Any], resource: str = "nvidia.com/gpu") -> list[GpuNode]:
    return [
        GpuNode(n["metadata"]["name"], n, int(n["status"]["allocatable"].get(resource, 0))) for n in nodes
    ]


# -- CUDA -> minimum driver ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "minimum"),
    [
        pytest.param((11, 0), "450.80.02", id="11.0-major-floor"),
        pytest.param((11, 8), "520.61.05", id="11.8-own-floor"),
        pytest.param((12, 0), "525.60.13", id="12.0"),
        pytest.param((12, 4), "525.60.13", id="12.4-minor-compat"),
        pytest.param((12, 8), "525.60.13", id="12.8-minor-compat"),
        pytest.param((13, 0), "580", id="13.0"),
    ],
)
def test_minimum_driver_per_cuda_version(cuda: tuple[int, int], minimum: str) -> None:
    assert gpu.min_driver_for_cuda(cuda) == minimum


@pytest.mark.parametrize("cuda", [(10, 2), (14, 1)], ids=["10.2", "14.1"])
def test_unknown_cuda_major_names_the_version_and_the_supported_ones(cuda: tuple[int, int]) -> None:
    with pytest.raises(ValueError) as raised:
        gpu.min_driver_for_cuda(cuda)
    assert str(raised.value) == (
        f"--cuda-version {cuda[0]}.{cuda[1]}: no known driver minimum (supported: 11.x, 12.x, 13.x)"
    )


# -- the driver version GFD reported ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        pytest.param("550.127.05", (550, 127, 5), id="three-parts"),
        pytest.param("580", (580,), id="major-only"),
        pytest.param("550.x", None, id="not-a-number"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_version(text: str, version: tuple[int, ...] | None) -> None:
    assert gpu.parse_version(text) == version


CURRENT = "nvidia.com/cuda.driver-version."
LEGACY = "nvidia.com/cuda.driver."


@pytest.mark.parametrize(
    ("labels", "driver"),
    [
        pytest.param({CURRENT + "full": "550.127.05"}, "550.127.05", id="full-label"),
        pytest.param(
            {CURRENT + "full": "550.127.08", CURRENT + "major": "535", CURRENT + "minor": "1"},
            "550.127.08",
            id="full-label-wins-over-parts",
        ),
        pytest.param(
            {
                CURRENT + "full": "",
                CURRENT + "major": "550",
                CURRENT + "minor": "90",
                CURRENT + "revision": "07",
            },
            "550.90.07",
            id="empty-full-label-falls-back-to-parts",
        ),
        pytest.param({CURRENT + "major": "580", CURRENT + "minor": "65"}, "580.65", id="no-revision"),
        pytest.param({CURRENT + "major": "580"}, "580", id="major-only"),
        pytest.param(
            {LEGACY + "major": "470", LEGACY + "minor": "256", LEGACY + "rev": "02"},
            "470.256.02",
            id="pre-0.6-labels",
        ),
        pytest.param(
            {
                CURRENT + "major": "550",
                CURRENT + "minor": "54",
                CURRENT + "revision": "15",
                LEGACY + "major": "470",
            },
            "550.54.15",
            id="current-parts-before-pre-0.6",
        ),
        pytest.param(
            {CURRENT + "minor": "54", LEGACY + "major": "470", LEGACY + "minor": "256"},
            "470.256",
            id="parts-without-a-major-are-skipped",
        ),
        pytest.param({"nvidia.com/gpu.product": H100}, None, id="no-driver-labels"),
    ],
)
def test_driver_version_from_gfd_labels(labels: dict[str, str], driver: str | None) -> None:
    assert gpu.driver_version(labelled(labels)) == driver


def test_driver_version_of_nodes_built_like_gfd_publishes_them() -> None:
    assert gpu.driver_version(gpu_node("new", driver="550.127.05")) == "550.127.05"
    legacy = gpu_node("old", driver="470.256.02", legacy_gfd=True)
    assert gpu.driver_version(legacy) == "470.256.02"
    assert gpu.driver_version(gpu_node("none", gfd=False)) is None
    assert gpu.driver_version({"metadata": {"name": "bare"}}) is None


@pytest.mark.parametrize(
    ("driver", "minimum", "verdict"),
    [
        pytest.param("550.127.05", "525.60.13", True, id="newer"),
        pytest.param("525.60.13", "525.60.13", True, id="equal"),
        pytest.param("525.60.11", "525.60.13", False, id="older-revision"),
        pytest.param("470.256.02", "525.60.13", False, id="older-major"),
        pytest.param("580.65.06", "580", True, id="longer-than-a-major-only-minimum"),
        pytest.param("575.51.03", "580", False, id="below-a-major-only-minimum"),
        pytest.param("550.x", "525.60.13", None, id="driver-not-a-version"),
        pytest.param("550.127.05", "latest", None, id="minimum-not-a-version"),
    ],
)
def test_driver_at_least(driver: str, minimum: str, verdict: bool | None) -> None:
    assert gpu.driver_at_least(driver, minimum) is verdict


# -- memory and product of one allocatable unit -------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "resource", "memory"),
    [
        pytest.param({"nvidia.com/gpu.memory": "81559"}, "nvidia.com/gpu", 81559, id="whole-gpu"),
        pytest.param(
            {"nvidia.com/gpu.memory": "40960"},
            "nvidia.com/gpu.shared",
            40960,
            id="time-sliced-resource-reads-the-gpu-label",
        ),
        pytest.param(
            {"nvidia.com/gpu.memory": "81559", "nvidia.com/mig-1g.10gb.memory": "9984"},
            "nvidia.com/mig-1g.10gb",
            9984,
            id="mig-profile-label",
        ),
        pytest.param(
            {"nvidia.com/gpu.memory": "81559"},
            "nvidia.com/mig-3g.40gb",
            40000,
            id="mig-without-label-reads-profile-as-decimal-gb",
        ),
        pytest.param(
            {"nvidia.com/mig-2g.20gb.memory": "lots"},
            "nvidia.com/mig-2g.20gb",
            20000,
            id="mig-label-not-a-number",
        ),
        pytest.param({}, "nvidia.com/gpu", None, id="no-gfd"),
        pytest.param({"nvidia.com/gpu.memory": "80Gi"}, "nvidia.com/gpu", None, id="gpu-label-not-a-number"),
    ],
)
def test_gpu_memory_mib(labels: dict[str, str], resource: str, memory: int | None) -> None:
    assert gpu.gpu_memory_mib(labelled(labels), resource) == memory


@pytest.mark.parametrize(
    ("labels", "resource", "product"),
    [
        pytest.param({"nvidia.com/gpu.product": H100}, "nvidia.com/gpu", H100, id="whole-gpu"),
        pytest.param(
            {"nvidia.com/gpu.product": H100, "nvidia.com/mig-1g.10gb.product": H100 + "-MIG-1g.10gb"},
            "nvidia.com/mig-1g.10gb",
            H100 + "-MIG-1g.10gb",
            id="mig-profile-label",
        ),
        pytest.param(
            {"nvidia.com/gpu.product": H100}, "nvidia.com/mig-1g.10gb", H100, id="mig-without-label-whole-gpu"
        ),
        pytest.param(
            {"nvidia.com/gpu.product": H100, "nvidia.com/mig-1g.10gb.product": ""},
            "nvidia.com/mig-1g.10gb",
            H100,
            id="mig-empty-label-whole-gpu",
        ),
        pytest.param({}, "nvidia.com/gpu", None, id="no-gfd"),
    ],
)
def test_gpu_product(labels: dict[str, str], resource: str, product: str | None) -> None:
    assert gpu.gpu_product(labelled(labels), resource) == product


# -- is there a GPU at all ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "present"),
    [
        pytest.param({"nvidia.com/gpu.present": "true"}, True, id="gfd-present"),
        pytest.param({"nvidia.com/gpu.product": A100}, True, id="gfd-product"),
        pytest.param({"feature.node.kubernetes.io/pci-10de.present": "true"}, True, id="nfd-pci-vendor"),
        pytest.param({"feature.node.kubernetes.io/pci-1002.present": "true"}, False, id="nfd-other-vendor"),
        pytest.param({"nvidia.com/gpu.present": ""}, False, id="empty-value"),
        # The GPU Operator relabels a node whose GPUs are gone nvidia.com/gpu.present=false.
        pytest.param({"nvidia.com/gpu.present": "false"}, False, id="gpu-operator-says-gone"),
        pytest.param({"feature.node.kubernetes.io/pci-10de.present": "false"}, False, id="nfd-false"),
        pytest.param(
            {"nvidia.com/gpu.present": "false", "feature.node.kubernetes.io/pci-10de.present": "true"},
            True,
            id="any-label-saying-present",
        ),
        pytest.param({}, False, id="no-labels"),
    ],
)
def test_has_gpu_labels(labels: dict[str, str], present: bool) -> None:
    assert gpu.has_gpu_labels(labelled(labels)) is present


def test_nvidia_resources_keeps_nonzero_nvidia_counts_only() -> None:
    node = {
        "status": {
            "allocatable": {
                "cpu": "191500m",
                "memory": "2097152Mi",
                "nvidia.com/gpu": "0",
                "nvidia.com/mig-1g.10gb": "7",
                "nvidia.com/mig-3g.40gb": "1",
                "nvidia.com/gpu.shared": 4,
                "nvidia.com/weird": "1k",
                "amd.com/gpu": "8",
            }
        }
    }
    assert gpu.nvidia_resources(node) == {
        "nvidia.com/mig-1g.10gb": 7,
        "nvidia.com/mig-3g.40gb": 1,
        "nvidia.com/gpu.shared": 4,
    }
    assert gpu.nvidia_resources({"status": {}}) == {}
    assert gpu.nvidia_resources({}) == {}


# -- the rows the GPU checks print --------------------------------------------------------------


def test_device_plugin_passes_with_the_usable_gpu_nodes_and_their_total() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns"))
    kept = preflight.check_device_plugin([gpu_node("gpu-a"), gpu_node("gpu-b", gpus=4), cpu_node("cpu-a")])
    assert [(g.name, g.allocatable) for g in kept] == [("gpu-a", 8), ("gpu-b", 4)]
    assert only_row(preflight) == Check(
        "device-plugin", Status.PASS, "2 usable nodes advertise nvidia.com/gpu (12 allocatable)"
    )


def test_whole_gpu_request_on_mig_nodes_lists_the_offered_profiles() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns"))
    nodes = [
        gpu_node("mig-a", mig={"1g.10gb": (7, 9984)}),
        gpu_node("mig-b", mig={"1g.10gb": (3, 9984), "3g.40gb": (1, 40192)}),
    ]
    assert preflight.check_device_plugin(nodes) == []
    assert only_row(preflight) == Check(
        "device-plugin",
        Status.FAIL,
        "no usable node advertises nvidia.com/gpu; they offer nvidia.com/mig-1g.10gb (2 nodes), "
        "nvidia.com/mig-3g.40gb (1 nodes)",
        "these GPUs are MIG-partitioned: request a MIG resource, e.g. gpu.resourceName / "
        "--gpu-resource nvidia.com/mig-1g.10gb",
    )


def test_missing_mig_profile_suggests_partitioning_or_the_offered_one() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns", gpu_resource="nvidia.com/mig-2g.20gb"))
    nodes = [gpu_node("mig-a", mig={"3g.40gb": (2, 40192)}), gpu_node("mig-b", mig={"3g.40gb": (2, 40192)})]
    assert preflight.check_device_plugin(nodes) == []
    row = only_row(preflight)
    # The partitioned cards advertise nvidia.com/gpu: 0, which is no offer.
    assert (
        row.detail
        == "no usable node advertises nvidia.com/mig-2g.20gb; they offer nvidia.com/mig-3g.40gb (2 nodes)"
    )
    assert row.fix == (
        "partition the GPUs so the MIG profile exists (nvidia.com/mig.config label with MIG strategy "
        "'mixed'), or request one that is offered: gpu.resourceName / --gpu-resource nvidia.com/mig-3g.40gb"
    )


def test_renamed_resource_suggests_the_commonest_offered_one() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns", gpu_resource="nvidia.com/gpu.shared"))
    assert preflight.check_device_plugin([gpu_node("gpu-a"), gpu_node("gpu-b")]) == []
    assert only_row(preflight) == Check(
        "device-plugin",
        Status.FAIL,
        "no usable node advertises nvidia.com/gpu.shared; they offer nvidia.com/gpu (2 nodes)",
        "request an offered resource: gpu.resourceName / --gpu-resource nvidia.com/gpu",
    )


@pytest.mark.parametrize(
    ("autoscaler", "labels", "status", "detail"),
    [
        pytest.param(
            True,
            {},
            Status.WARN,
            "none of the 2 usable nodes has a GPU: the node autoscaler must add a GPU node advertising "
            "nvidia.com/gpu",
            id="autoscaler-adds-gpu-nodes",
        ),
        pytest.param(
            True,
            {"feature.node.kubernetes.io/pci-10de.present": "true"},
            Status.FAIL,
            "none of the 2 usable nodes advertises nvidia.com/gpu: no device plugin evidence "
            "(allocatable is 0 or absent)",
            id="autoscaler-cannot-fix-a-gpu-node-without-plugin",
        ),
        pytest.param(
            True,
            {"nvidia.com/gpu.present": "false"},
            Status.WARN,
            "none of the 2 usable nodes has a GPU: the node autoscaler must add a GPU node advertising "
            "nvidia.com/gpu",
            id="autoscaler-node-whose-gpus-are-gone",
        ),
        pytest.param(
            False,
            {},
            Status.FAIL,
            "none of the 2 usable nodes advertises nvidia.com/gpu: no device plugin evidence "
            "(allocatable is 0 or absent)",
            id="no-autoscaler",
        ),
    ],
)
def test_no_gpu_resource_at_all(
    autoscaler: bool, labels: dict[str, str], status: Status, detail: str
) -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns", node_autoscaler=autoscaler))
    nodes = [cpu_node("cpu-a"), cpu_node("cpu-b", labels=labels)]
    assert preflight.check_device_plugin(nodes) == []
    row = only_row(preflight)
    assert (row.status, row.detail) == (status, detail)
    assert row.fix.endswith("or the NVIDIA device plugin DaemonSet on the GPU nodes")


def test_driver_check_sorts_nodes_into_ok_too_old_and_unknown() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns", cuda_version=(12, 4)))
    nodes = gpu_nodes(
        gpu_node("new-a", driver="550.127.05"),
        gpu_node("legacy-b", driver="535.183.01", legacy_gfd=True),
        gpu_node("old-c", driver="470.256.02"),
        gpu_node("nogfd-d", gfd=False),
        gpu_node("weird-e", driver="5x0.1.2"),
    )
    kept = preflight.check_driver(nodes)
    assert [g.name for g in kept] == ["new-a", "legacy-b", "nogfd-d", "weird-e"]
    assert only_row(preflight) == Check(
        "gpu-driver",
        Status.WARN,
        "CUDA 12.4 needs driver >= 525.60.13: 2 nodes OK (535.183.01, 550.127.05); "
        "1 too old: old-c (470.256.02); 2 without GFD driver labels: nogfd-d, weird-e",
        "upgrade the driver on the old nodes to >= 525.60.13, or keep the release off them with a "
        "nodeSelector on nvidia.com/cuda.driver-version.major",
    )


def test_driver_check_fails_when_every_node_is_too_old_for_cuda_13() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns", cuda_version=(13, 0)))
    nodes = gpu_nodes(gpu_node("a", driver="570.86.15"), gpu_node("b", driver="575.51.03"))
    assert preflight.check_driver(nodes) == []
    assert only_row(preflight) == Check(
        "gpu-driver",
        Status.FAIL,
        "every GPU node runs an older driver (570.86.15, 575.51.03) than CUDA 13.0 needs driver >= 580",
        "upgrade the NVIDIA driver to >= 580 (GPU Operator: driver.version), or use an image built for "
        "an older CUDA",
    )


def test_gpu_memory_inventory_per_product_counts_allocatable_units() -> None:
    preflight = Preflight(kube=None, options=Options(namespace="ns", min_gpu_memory_mib=20000))
    nodes = gpu_nodes(
        gpu_node("h100-a"),
        gpu_node("h100-b", gpus=4),
        gpu_node("t4", product="Tesla-T4", memory_mib=15360, gpus=1),
        without(gpu_node("bare", gpus=2), "gpu.memory", "gpu.product"),
    )
    kept = preflight.check_gpu_memory(nodes)
    assert [g.name for g in kept] == ["h100-a", "h100-b", "bare"]
    row = only_row(preflight)
    assert (row.status, row.detail) == (
        Status.WARN,
        "1 nodes have nvidia.com/gpu below 20000 MiB: t4; NVIDIA-H100-80GB-HBM3 (81559 MiB) x12, "
        "unknown product (? MiB) x2, Tesla-T4 (15360 MiB) x1",
    )


def test_mig_memory_and_product_come_from_the_profile_labels() -> None:
    resource = "nvidia.com/mig-1g.10gb"
    preflight = Preflight(kube=None, options=Options(namespace="ns", gpu_resource=resource))
    labelled_node = gpu_node("mig-a", mig={"1g.10gb": (7, 9984)})
    no_gfd = without(gpu_node("mig-b", mig={"1g.10gb": (7, 9984)}), ".memory", ".product")
    assert preflight.check_gpu_memory(gpu_nodes(labelled_node, no_gfd, resource=resource)) == []
    assert only_row(preflight) == Check(
        "gpu-memory",
        Status.FAIL,
        f"each {resource} has less than 10240 MiB: {H100}-MIG-1g.10gb (9984 MiB) x7, unknown product "
        "(10000 MiB) x7",
        "use GPUs with >= 10240 MiB (a larger MIG profile, e.g. nvidia.com/mig-2g.20gb) or lower "
        "--min-gpu-memory-mib if the model fits",
    )
