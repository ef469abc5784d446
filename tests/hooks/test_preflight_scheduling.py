"""The scheduler's filters as the preflight re-does them: selector, taints, readiness, cordon, requests.

Each rule is checked on its own against kube-scheduler's behaviour, then on a pool of several nodes
through the `nodes` check, whose row is what `glm-tts-hooks preflight` prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from glm_tts_hooks.preflight.checks import Preflight, Scheduling
from glm_tts_hooks.preflight.options import Options, Toleration
from glm_tts_hooks.preflight.scheduling import (
    allocatable,
    is_cordoned,
    is_ready,
    labels_of,
    matches_selector,
    name_of,
    pod_request,
    tolerates,
    untolerated_taints,
)
from glm_tts_hooks.report import Check, Status
from harness.kmock_cluster import cpu_node, gpu_node

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU = "nvidia.com/gpu"


def tainted(*taints: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "n"}, "spec": {"taints": list(taints)}}


# -- metadata -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "labels", "name"),
    [
        pytest.param(
            {"metadata": {"name": "gpu-a", "labels": {"pool": "gpu"}}}, {"pool": "gpu"}, "gpu-a", id="both"
        ),
        pytest.param({"metadata": {"name": "gpu-a", "labels": None}}, {}, "gpu-a", id="null-labels"),
        pytest.param({"metadata": {"labels": {"pool": "gpu"}}}, {"pool": "gpu"}, "?", id="no-name"),
        pytest.param({"metadata": None}, {}, "?", id="null-metadata"),
        pytest.param({}, {}, "?", id="no-metadata"),
    ],
)
def test_labels_and_name_of_partial_objects(obj: dict[str, Any], labels: dict[str, str], name: str) -> None:
    assert labels_of(obj) == labels
    assert name_of(obj) == name


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param({}, True, id="empty-selector-matches-all"),
        pytest.param({"nvidia.com/gpu.present": "true"}, True, id="one-label"),
        pytest.param({"nvidia.com/gpu.present": "true", "pool": "tts"}, True, id="every-label"),
        pytest.param({"nvidia.com/gpu.present": "true", "pool": "batch"}, False, id="one-value-differs"),
        pytest.param({"nvidia.com/gpu.present": "true", "zone": "a"}, False, id="one-label-missing"),
        pytest.param({"pool": ""}, False, id="empty-value-is-not-absence"),
    ],
)
def test_node_selector_needs_every_label(selector: dict[str, str], matches: bool) -> None:
    node = {"metadata": {"labels": {"nvidia.com/gpu.present": "true", "pool": "tts"}}}
    assert matches_selector(node, selector) is matches


def test_node_without_labels_matches_only_an_empty_selector() -> None:
    assert matches_selector({"metadata": {"name": "bare"}}, {}) is True
    assert matches_selector({"metadata": {"name": "bare"}}, {"pool": "tts"}) is False


# -- taints and tolerations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        pytest.param(Toleration(GPU, "Exists"), GPU_TAINT, True, id="exists-any-value-any-effect"),
        pytest.param(
            Toleration(GPU, "Exists", effect="NoSchedule"), GPU_TAINT, True, id="exists-same-effect"
        ),
        pytest.param(
            Toleration(GPU, "Exists", effect="NoExecute"), GPU_TAINT, False, id="exists-other-effect"
        ),
        pytest.param(
            Toleration(GPU, "Equal", "present", "NoSchedule"), GPU_TAINT, True, id="equal-same-value"
        ),
        pytest.param(
            Toleration(GPU, "Equal", "absent", "NoSchedule"), GPU_TAINT, False, id="equal-other-value"
        ),
        pytest.param(Toleration(GPU, "Equal", ""), GPU_TAINT, False, id="equal-empty-value-vs-value"),
        pytest.param(
            Toleration(GPU, "Equal", ""),
            {"key": GPU, "effect": "NoSchedule"},
            True,
            id="equal-empty-vs-no-value",
        ),
        pytest.param(Toleration("dedicated", "Exists"), GPU_TAINT, False, id="other-key"),
        pytest.param(Toleration("", "Exists"), GPU_TAINT, True, id="empty-key-exists-tolerates-all"),
        pytest.param(
            Toleration("", "Exists", effect="NoExecute"), GPU_TAINT, False, id="empty-key-exists-other-effect"
        ),
        pytest.param(
            Toleration("", "Equal", "present"), GPU_TAINT, False, id="empty-key-equal-tolerates-none"
        ),
    ],
)
def test_toleration_matches_taint_like_the_scheduler(
    toleration: Toleration, taint: dict[str, str], tolerated: bool
) -> None:
    assert tolerates(toleration, taint) is tolerated


def test_untolerated_taints_are_listed_in_node_order_as_kubectl_writes_them() -> None:
    # Taints that are not reported (soft ones; cordon and NotReady, which have verdicts of their own)
    # sit before and between those that are: each is skipped, not the end of the list.
    node = tainted(
        {"key": "soft", "value": "x", "effect": "PreferNoSchedule"},
        {"key": "dedicated", "value": "ml", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
        GPU_TAINT,
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
        {"key": "spot", "effect": "NoExecute"},
    )
    assert untolerated_taints(node, []) == [
        "dedicated=ml:NoSchedule",
        "nvidia.com/gpu=present:NoSchedule",
        "spot:NoExecute",
    ]
    assert untolerated_taints(node, [Toleration(GPU, "Exists", effect="NoSchedule")]) == [
        "dedicated=ml:NoSchedule",
        "spot:NoExecute",
    ]
    everything = [
        Toleration("dedicated", "Equal", "ml"),
        Toleration(GPU, "Exists"),
        Toleration("spot", "Exists"),
    ]
    assert untolerated_taints(node, everything) == []


def test_tolerations_may_be_a_one_shot_iterable() -> None:
    """Each taint is checked against every toleration, even when they arrive as a generator."""
    node = tainted({"key": "dedicated", "value": "ml", "effect": "NoSchedule"}, GPU_TAINT)
    tolerations: Iterator[Toleration] = (
        t for t in [Toleration("dedicated", "Exists"), Toleration(GPU, "Exists")]
    )
    assert untolerated_taints(node, tolerations) == []


@pytest.mark.parametrize(
    "node",
    [
        pytest.param({"metadata": {"name": "n"}}, id="no-spec"),
        pytest.param({"spec": None}, id="null-spec"),
        pytest.param({"spec": {"taints": None}}, id="null-taints"),
        pytest.param(
            tainted({"key": GPU, "value": "present", "effect": "PreferNoSchedule"}), id="prefer-only"
        ),
    ],
)
def test_nodes_without_blocking_taints(node: dict[str, Any]) -> None:
    assert untolerated_taints(node, []) == []


# -- readiness, cordon, allocatable -------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        pytest.param(
            [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            True,
            id="ready-after-other-conditions",
        ),
        pytest.param([{"type": "Ready", "status": "Unknown"}], False, id="unknown"),
        pytest.param([{"type": "Ready", "status": "False"}], False, id="not-ready"),
        pytest.param([{"type": "NetworkUnavailable", "status": "True"}], False, id="no-ready-condition"),
        pytest.param([], False, id="no-conditions"),
    ],
)
def test_ready_needs_a_true_ready_condition(conditions: list[dict[str, str]], ready: bool) -> None:
    assert is_ready({"status": {"conditions": conditions}}) is ready


def test_ready_and_cordoned_on_partial_nodes() -> None:
    assert is_ready({}) is False
    assert is_ready({"status": None}) is False
    assert is_cordoned({}) is False
    assert is_cordoned({"spec": None}) is False
    assert is_cordoned({"spec": {"unschedulable": False}}) is False
    assert is_cordoned({"spec": {"unschedulable": True}}) is True


@pytest.mark.parametrize(
    ("value", "count"),
    [
        pytest.param("8", 8, id="string"),
        pytest.param(4, 4, id="integer"),
        pytest.param("1k", 1000, id="suffix"),
        pytest.param("0", 0, id="zero"),
        pytest.param(None, 0, id="absent"),
    ],
)
def test_allocatable_count(value: Any, count: int) -> None:
    node_allocatable = {"cpu": "191500m"} if value is None else {"cpu": "191500m", GPU: value}
    assert allocatable({"status": {"allocatable": node_allocatable}}, GPU) == count


def test_allocatable_of_a_node_without_status() -> None:
    assert allocatable({}, GPU) == 0
    assert allocatable({"status": {"allocatable": None}}, GPU) == 0


# -- the pod's effective request ----------------------------------------------------------------


def container(
    gpus: int | None = None, *, requests: int | None = None, sidecar: bool = False
) -> dict[str, Any]:
    """A container with a GPU limit and/or request (as a string, as the API returns it)."""
    resources: dict[str, Any] = {"requests": {"cpu": "500m"}}
    if gpus is not None:
        resources["limits"] = {GPU: str(gpus)}
    if requests is not None:
        resources["requests"][GPU] = str(requests)
    spec: dict[str, Any] = {"name": "c", "resources": resources}
    return {**spec, "restartPolicy": "Always"} if sidecar else spec


@pytest.mark.parametrize(
    ("spec", "gpus"),
    [
        pytest.param({}, 0, id="empty-spec"),
        pytest.param({"containers": [container()]}, 0, id="cpu-only"),
        pytest.param({"containers": [container(2)]}, 2, id="limit-sets-request"),
        pytest.param({"containers": [container(2, requests=1)]}, 1, id="request-wins-over-limit"),
        pytest.param(
            {"containers": [container(1), container(requests=2), container()]}, 3, id="app-containers-add"
        ),
        pytest.param({"initContainers": [container(4)], "containers": [container(1)]}, 4, id="init-peak"),
        pytest.param(
            {"initContainers": [container(1), container(2)], "containers": [container(1)]},
            2,
            id="init-containers-run-one-at-a-time",
        ),
        pytest.param(
            {"initContainers": [container(2, sidecar=True), container(3)], "containers": [container(0)]},
            5,
            id="init-after-sidecar-adds-to-it",
        ),
        pytest.param(
            {
                "initContainers": [container(3), container(1, sidecar=True), container(1)],
                "containers": [container(1)],
            },
            3,
            id="init-before-sidecar-does-not",
        ),
        pytest.param(
            {
                "initContainers": [container(1, sidecar=True), container(1, sidecar=True)],
                "containers": [container(1)],
            },
            3,
            id="sidecars-add-to-the-app",
        ),
        pytest.param(
            {"initContainers": [container(2, sidecar=True)], "containers": []},
            2,
            id="sidecars-alone",
        ),
        pytest.param({"containers": [container(1)], "overhead": {GPU: "1"}}, 2, id="overhead-adds"),
        pytest.param({"containers": [container(1)], "overhead": {"cpu": "250m"}}, 1, id="other-overhead"),
    ],
)
def test_pod_request(spec: dict[str, Any], gpus: int) -> None:
    assert pod_request({"metadata": {"name": "p"}, "spec": spec}, GPU) == gpus


def test_pod_request_of_another_resource_and_of_a_bare_pod() -> None:
    pod = {"spec": {"containers": [container(2)], "overhead": {GPU: "1"}}}
    assert pod_request(pod, "nvidia.com/mig-1g.10gb") == 0
    assert pod_request({}, GPU) == 0
    assert pod_request({"spec": None}, GPU) == 0


# -- the nodes check on a pool of several nodes -------------------------------------------------


class Nodes:
    """The API's node list, as the preflight reads it (one page)."""

    def __init__(self, *nodes: dict[str, Any]) -> None:
        self.nodes = nodes

    def list_all(self, what: str, resource_path: str, **query: Any) -> Iterator[dict[str, Any]]:
        assert (what, resource_path, query) == ("list nodes", "/api/v1/nodes", {})
        yield from self.nodes


def nodes_row(*nodes: dict[str, Any], selector: dict[str, str] | None = None, tolerations=(), **options: Any):
    preflight = Preflight(kube=Nodes(*nodes), options=Options(namespace="ns", **options))
    usable = preflight.check_nodes(Scheduling(dict(selector or {}), list(tolerations)))
    (row,) = preflight.report.checks
    return [name_of(n) for n in usable], row, preflight.report.figures


def test_every_exclusion_reason_is_counted_with_the_nodes() -> None:
    usable, row, figures = nodes_row(
        gpu_node("gpu-ok"),
        gpu_node("gpu-down", ready=False),
        gpu_node("gpu-cordoned", unschedulable=True),
        gpu_node(
            "gpu-dedicated", taints=[GPU_TAINT, {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]
        ),
        gpu_node("gpu-spot", taints=[{"key": "spot", "effect": "NoExecute"}]),
        cpu_node("cpu-a"),
        cpu_node("cpu-b"),
        selector={"nvidia.com/gpu.present": "true"},
        tolerations=[Toleration(GPU, "Exists", effect="NoSchedule")],
    )
    assert usable == ["gpu-ok"]
    assert figures == {"nodes_total": 7, "nodes_usable": 1}
    assert row == Check(
        "nodes",
        Status.PASS,
        "1 of 7 nodes can take the pod; 2 lack the labels nvidia.com/gpu.present=true; 2 have taints the pod "
        "does not tolerate (dedicated=ml:NoSchedule, spot:NoExecute); 1 are NotReady (gpu-down); 1 are "
        "cordoned (gpu-cordoned)",
    )


def test_a_node_is_counted_once_under_its_first_reason() -> None:
    """Selector, then taints, then readiness, then cordon: the order kube-scheduler's filters report."""
    usable, row, _ = nodes_row(
        cpu_node(
            "cpu-everything", ready=False, unschedulable=True, taints=[{"key": "a", "effect": "NoSchedule"}]
        ),
        gpu_node("gpu-tainted-down", ready=False, unschedulable=True),
        gpu_node("gpu-down-cordoned", ready=False, unschedulable=True, taints=[]),
        selector={"nvidia.com/gpu.present": "true"},
    )
    assert usable == []
    assert row.status is Status.FAIL
    assert row.detail == (
        "0 of 3 nodes can take the pod; 1 lack the labels nvidia.com/gpu.present=true; 1 have taints the pod "
        "does not tolerate (nvidia.com/gpu=present:NoSchedule); 1 are NotReady (gpu-down-cordoned)"
    )
    assert row.fix == (
        "tolerate nvidia.com/gpu=present:NoSchedule (values tolerations / --toleration "
        "nvidia.com/gpu=present:NoSchedule); bring the NotReady nodes back (kubectl describe node; "
        "check the kubelet)"
    )


def test_commonest_taints_lead_and_the_fix_names_the_commonest() -> None:
    spot = {"key": "spot", "effect": "NoExecute"}
    _, row, _ = nodes_row(
        gpu_node("a", taints=[GPU_TAINT, spot]),
        gpu_node("b", taints=[spot]),
        gpu_node("c", taints=[spot, {"key": "team", "value": "asr", "effect": "NoSchedule"}]),
        gpu_node("d", taints=[{"key": "zone", "value": "b", "effect": "NoExecute"}, GPU_TAINT]),
    )
    assert row.detail == (
        "0 of 4 nodes can take the pod; 4 have taints the pod does not tolerate "
        "(spot:NoExecute, nvidia.com/gpu=present:NoSchedule, team=asr:NoSchedule)"
    )
    assert row.fix == "tolerate spot:NoExecute (values tolerations / --toleration spot:NoExecute)"


def test_many_cordoned_nodes_are_shortened_and_one_is_named_to_uncordon() -> None:
    names = [f"gpu-{i}" for i in range(7)]
    _, row, _ = nodes_row(*(gpu_node(n, unschedulable=True, taints=[]) for n in names))
    assert (
        row.detail
        == "0 of 7 nodes can take the pod; 7 are cordoned (gpu-0, gpu-1, gpu-2, gpu-3, gpu-4 and 2 more)"
    )
    assert row.fix == "kubectl uncordon gpu-0 (once its maintenance is over)"


def test_selector_only_exclusion_says_how_to_label_the_nodes() -> None:
    _, row, _ = nodes_row(
        gpu_node("gpu-a", taints=[]),
        cpu_node("cpu-a"),
        selector={"pool": "tts", "nvidia.com/gpu.present": "true"},
    )
    assert row == Check(
        "nodes",
        Status.FAIL,
        "0 of 2 nodes can take the pod; 2 lack the labels pool=tts,nvidia.com/gpu.present=true",
        "no node carries the selector labels: label the GPU nodes (kubectl label node NAME pool=tts "
        "nvidia.com/gpu.present=true) or change nodeSelector / --node-selector",
    )


def test_selector_and_other_reasons_do_not_blame_the_labels_alone() -> None:
    _, row, _ = nodes_row(
        cpu_node("cpu-a"),
        gpu_node("gpu-a", taints=[], ready=False),
        selector={"nvidia.com/gpu.present": "true"},
    )
    assert row.fix == "bring the NotReady nodes back (kubectl describe node; check the kubelet)"


@pytest.mark.parametrize(
    ("nodes", "status", "detail", "fix"),
    [
        pytest.param(
            [],
            Status.WARN,
            "0 of 0 nodes can take the pod; the node autoscaler must add one "
            "(the pod stays Pending until it does)",
            "make sure an autoscaled node group carries the selector labels and fits the pod; "
            "the cluster has no nodes: add worker nodes",
            id="empty-cluster",
        ),
        pytest.param(
            [gpu_node("gpu-a", taints=[], ready=False)],
            Status.WARN,
            "0 of 1 nodes can take the pod; 1 are NotReady (gpu-a); the node autoscaler must add one "
            "(the pod stays Pending until it does)",
            "make sure an autoscaled node group carries the selector labels and fits the pod; "
            "bring the NotReady nodes back (kubectl describe node; check the kubelet)",
            id="not-ready",
        ),
        pytest.param(
            [gpu_node("gpu-a")],
            Status.FAIL,
            "0 of 1 nodes can take the pod; 1 have taints the pod does not tolerate "
            "(nvidia.com/gpu=present:NoSchedule)",
            "tolerate nvidia.com/gpu=present:NoSchedule (values tolerations / --toleration "
            "nvidia.com/gpu=present:NoSchedule)",
            id="taints-are-not-for-the-autoscaler",
        ),
    ],
)
def test_autoscaler_may_add_a_node_unless_taints_keep_the_pod_off(
    nodes: list[dict[str, Any]], status: Status, detail: str, fix: str
) -> None:
    _, row, _ = nodes_row(*nodes, node_autoscaler=True)
    assert row == Check("nodes", status, detail, fix)


def test_empty_cluster_without_autoscaler_fails() -> None:
    _, row, figures = nodes_row()
    assert row == Check(
        "nodes", Status.FAIL, "0 of 0 nodes can take the pod", "the cluster has no nodes: add worker nodes"
    )
    assert figures == {"nodes_total": 0, "nodes_usable": 0}


def test_usable_nodes_keep_only_what_the_gpu_checks_read() -> None:
    node = gpu_node("gpu-a", taints=[])
    usable = Preflight(kube=Nodes(node), options=Options(namespace="ns")).check_nodes(Scheduling({}, []))
    assert usable == [
        {
            "metadata": {"name": "gpu-a", "labels": node["metadata"]["labels"]},
            "status": {"allocatable": node["status"]["allocatable"]},
        }
    ]
