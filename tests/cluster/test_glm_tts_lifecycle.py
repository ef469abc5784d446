"""charts/glm-tts through its whole life on a real API server, with helm 3 and 4: install (hooks,
PodSecurity restricted, the scheduler placing pods), upgrade, rollback, `helm test`, uninstall; and
an upgrade from the previously released chart to this one.

Under kwok containers do not run: the API server, admission, RBAC, the scheduler and the controllers
are real, the processes in the pods are not (`helm test` proves the test pod is admitted, scheduled
and awaited, not what its container checks; tests/cluster/test_hooks_on_cluster.py runs the hooks
themselves from the host).
"""

from __future__ import annotations

import subprocess
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.control_plane import ControlPlane
from harness.paths import REPO

from .helpers import GLM_TTS, Helm, pods, wait_for

PROFILES = ("cpu", "gpu")
GPU_RESOURCE_PREFIX = "nvidia.com/"
# What Kubernetes itself puts in every namespace; nothing of the release.
NAMESPACE_DEFAULTS = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}
CLUSTER_SCOPED_KINDS = (
    "clusterroles,clusterrolebindings,validatingwebhookconfigurations,mutatingwebhookconfigurations,"
    "validatingadmissionpolicies,validatingadmissionpolicybindings,priorityclasses,"
    "runtimeclasses,storageclasses,persistentvolumes"
)


def values_file(profile: str) -> Path:
    return GLM_TTS / "ci" / f"{profile}-values.yaml"


def release_deployment(plane: ControlPlane, namespace: str, release: str) -> dict[str, Any]:
    items = plane.get("deployments", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}")["items"]
    assert len(items) == 1, (
        f"expected one Deployment for {release}, found {[i['metadata']['name'] for i in items]}"
    )
    return items[0]


def wait_rolled_out(plane: ControlPlane, namespace: str, release: str, replicas: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        d = release_deployment(plane, namespace, release)
        status = d.get("status", {})
        ok = (
            d["spec"]["replicas"] == replicas
            and status.get("observedGeneration") == d["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and status.get("replicas") == replicas
        )
        return d if ok else None

    return wait_for(done, f"{release} to roll out {replicas} replica(s)", timeout=180)


def app_pods(plane: ControlPlane, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    return [p for p in pods(plane, namespace, selector) if not p["metadata"].get("deletionTimestamp")]


def gpu_requests(pod: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for container in pod["spec"]["containers"]:
        for kind in ("requests", "limits"):
            for name, qty in (container.get("resources", {}).get(kind) or {}).items():
                if name.startswith(GPU_RESOURCE_PREFIX):
                    found[name] = qty
    return found


def assert_placement(plane: ControlPlane, profile: str, pod_list: list[dict[str, Any]]) -> None:
    for pod in pod_list:
        node = plane.get("node", pod["spec"]["nodeName"])
        allocatable = node["status"]["allocatable"]
        wanted = gpu_requests(pod)
        if profile == "gpu":
            assert wanted, f"GPU profile pod {pod['metadata']['name']} requests no GPU"
            for resource, qty in wanted.items():
                assert int(allocatable.get(resource, "0")) >= int(qty), (
                    f"{pod['metadata']['name']} wants {qty} {resource}, node {node['metadata']['name']} "
                    f"has {allocatable.get(resource, 0)}"
                )
        else:
            assert not wanted, f"CPU profile pod asks for {wanted}"
            assert "nvidia.com/gpu.present" not in node["metadata"]["labels"], "CPU pod took a GPU node"


def leftovers(plane: ControlPlane, namespace: str, release: str) -> list[str]:
    """Everything still in the namespace (but Events and Kubernetes' own defaults), and any
    cluster-scoped object carrying the release's label."""
    kinds = plane.kubectl("api-resources", "--verbs=list,delete", "--namespaced", "-o", "name").stdout.split()
    kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io"}]
    items = plane.get(",".join(kinds), "-n", namespace)["items"]
    left = [
        f"{i['kind']}/{i['metadata']['name']}"
        for i in items
        if (i["kind"], i["metadata"]["name"]) not in NAMESPACE_DEFAULTS
    ]
    cluster = plane.get(CLUSTER_SCOPED_KINDS, "-l", f"app.kubernetes.io/instance={release}")["items"]
    return left + [f"{i['kind']}/{i['metadata']['name']} (cluster-scoped)" for i in cluster]


def documented_leftover(item: dict[str, Any]) -> bool:
    """The chart documents one survivor: the model PVC, kept by helm.sh/resource-policy: keep."""
    annotations = item["metadata"].get("annotations") or {}
    return item["kind"] == "PersistentVolumeClaim" and annotations.get("helm.sh/resource-policy") == "keep"


def assert_clean_after_uninstall(plane: ControlPlane, namespace: str, release: str) -> None:
    def settled() -> bool:
        left = leftovers(plane, namespace, release)
        kept = {
            f"PersistentVolumeClaim/{p['metadata']['name']}"
            for p in plane.get("pvc", "-n", namespace)["items"]
            if documented_leftover(p)
        }
        return not [x for x in left if x not in kept]

    try:
        wait_for(settled, "the namespace to empty after uninstall", timeout=90)
    except AssertionError:
        raise AssertionError(
            f"uninstall left undocumented objects: {leftovers(plane, namespace, release)}"
        ) from None


@pytest.mark.parametrize("profile", PROFILES)
def test_install_upgrade_rollback_test_uninstall(
    control_plane: ControlPlane, helm: Helm, namespace: str, profile: str
) -> None:
    release = f"tts-{profile}"
    chart = str(GLM_TTS)
    values = str(values_file(profile))
    helm("install", release, chart, "-n", namespace, "-f", values, "--wait", "--timeout", "5m")
    deployment = wait_rolled_out(control_plane, namespace, release, 1)
    assert_placement(control_plane, profile, app_pods(control_plane, namespace, deployment))

    helm("upgrade", release, chart, "-n", namespace, "-f", values, "--set", "replicaCount=2",
         "--wait", "--timeout", "5m")  # fmt: skip
    deployment = wait_rolled_out(control_plane, namespace, release, 2)
    assert_placement(control_plane, profile, app_pods(control_plane, namespace, deployment))

    helm("rollback", release, "1", "-n", namespace, "--wait", "--timeout", "5m")
    wait_rolled_out(control_plane, namespace, release, 1)
    history = helm.history(release, namespace)
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[-1]["status"] == "deployed"
    assert "Rollback to 1" in history[-1]["description"]

    tested = helm("test", release, "-n", namespace, "--timeout", "5m")
    assert "Succeeded" in tested.stdout

    helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "5m")
    assert_clean_after_uninstall(control_plane, namespace, release)


# ---------------------------------------------------------------------------------------------
def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


def previous_chart_commit() -> tuple[str, str, str]:
    """(commit, version, why) of the chart users upgrade from.

    The newest commit whose Chart.yaml carries another version than HEAD's is the previous
    release. While the chart has never changed its version, the commit that introduced that
    version is the one release there is, and an upgrade from it still crosses every template change
    made since.
    """
    chart_yaml = "charts/glm-tts/Chart.yaml"
    head_version = yaml.safe_load((GLM_TTS / "Chart.yaml").read_text())["version"]
    commits = _git("log", "--format=%H", "--", chart_yaml).split()
    for commit in commits:
        version = yaml.safe_load(_git("show", f"{commit}:{chart_yaml}"))["version"]
        if version != head_version:
            return commit, version, "previous released version"
    if not commits:
        pytest.skip("charts/glm-tts/Chart.yaml has no git history (not a git checkout?)")
    return commits[-1], head_version, f"first commit of {head_version}, the only version so far"


def export_chart(commit: str, dest: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "charts/glm-tts"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "charts" / "glm-tts"


@pytest.mark.parametrize("profile", PROFILES)
def test_upgrade_from_the_previous_release_hits_no_immutable_field(
    control_plane: ControlPlane, helm4: Helm, namespace: str, profile: str, tmp_path: Path
) -> None:
    commit, version, why = previous_chart_commit()
    old_chart = export_chart(commit, tmp_path)
    old_values = old_chart / "ci" / f"{profile}-values.yaml"
    if not old_values.exists():
        pytest.skip(f"chart {version} at {commit[:10]} has no ci/{profile}-values.yaml profile")
    release = f"up-{profile}"
    # no --wait: the first release's cpu profile kept the GPU nodeSelector, so its pods stay
    # Pending on any cluster; what is tested is that the upgrade applies and then rolls out
    helm4("install", release, str(old_chart), "-n", namespace, "-f", str(old_values), "--timeout", "5m")

    upgraded = helm4(
        "upgrade", release, str(GLM_TTS), "-n", namespace, "-f", str(values_file(profile)),
        "--wait", "--timeout", "5m", check=False,
    )  # fmt: skip
    assert upgraded.returncode == 0, (
        f"upgrade from chart {version} ({why}, {commit[:10]}) failed:\n{upgraded.stderr}"
    )
    assert "field is immutable" not in upgraded.stderr
    deployment = wait_rolled_out(control_plane, namespace, release, 1)
    assert_placement(control_plane, profile, app_pods(control_plane, namespace, deployment))
    helm4("uninstall", release, "-n", namespace, "--wait", "--timeout", "5m")
