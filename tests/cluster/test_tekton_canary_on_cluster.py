"""The glm-tts-canary-release Pipeline's tasks on the real control plane, with the real helm 3 and helm 4:
deploy-canary (glm-tts-helm-deploy), route, then promote or rollback (glm-tts-canary), each task
run out of the Pipeline YAML with its params resolved from the Pipeline's params (see
tests/tekton/canary_steps.py), and every helm call made as the glm-tts-deployer ServiceAccount with
exactly the RBAC the catalog ships (so the least-privilege claim is tested, not assumed).

No Tekton controller runs here: the `when` expressions on $(tasks.verify.status) that choose promote
or rollback are checked structurally in tests/tekton/test_tekton_canary.py; here each branch is run
as the verdict selects it. verify itself (a synthesis through the Service) needs a running server,
which kwok pods are not; tests/tekton/test_tekton_batch_live.py runs the verify step against one.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.control_plane import ControlPlane
from harness.paths import REPO, TEKTON_CATALOG

from .helpers import Helm, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tekton"))
from canary_steps import canary_step, run_pipeline_task, run_task_step
from task_steps import StepRun, task

pytestmark = pytest.mark.timeout(900)

DEPLOYER_RBAC = TEKTON_CATALOG / "task/glm-tts-helm-deploy/0.1.0/rbac/glm-tts-deployer.yaml"
IMAGE = "registry.local:5000/glm-tts/glm-tts-cpu"
HOOKS_IMAGE = "registry.local:5000/glm-tts/glm-tts-hooks"
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
HOOKS_NEW = "sha256:" + "3" * 64
COMMIT = "4f1c2b9e8d7a6c5b4a3928170f6e5d4c3b2a1908"
FETCHED = {"tasks.fetch-source.results.commit": COMMIT}
# The CPU profile stores `nodeSelector: null` in the release: an upgrade with plain --reuse-values
# fails the chart's schema on it, which is why the Task uses --reset-then-reuse-values.
CPU_VALUES = "charts/glm-tts/ci/cpu-values.yaml"
STABLE_ROUTE = {
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "public", "namespace": "gateway"}],
        "hostnames": ["tts.glm-tts.test"],
    }
}


@dataclass
class Site:
    """One namespace holding a stable release, where the Pipeline's tasks run as the deployer."""

    plane: ControlPlane
    helm: Helm
    namespace: str
    tmp: Path
    kubeconfig_dir: Path
    helm_bin: Path
    release: str = "tts"

    @property
    def canary(self) -> str:
        return f"{self.release}-canary"

    def params(self, **extra: Any) -> dict[str, Any]:
        return {
            "GIT_URL": "https://github.com/glm-tts/glm-tts-k8s.git",
            "GIT_REVISION": COMMIT,
            "IMAGE": IMAGE,
            "IMAGE_DIGEST": NEW,
            "HOOKS_IMAGE": HOOKS_IMAGE,
            "HOOKS_IMAGE_DIGEST": HOOKS_NEW,
            "NAMESPACE": self.namespace,
            "RELEASE": self.release,
            "VALUES_FILES": [CPU_VALUES],
            "DEPLOY_TIMEOUT": "3m",
            "CANARY_WEIGHT": "25",
            **extra,
        }

    def pipeline_task(self, name: str, *, results: dict[str, str] | None = None, **extra: Any) -> StepRun:
        return run_pipeline_task(
            name,
            self.params(**extra),
            tmp=self.tmp,
            workspaces={"source": REPO, "kubeconfig": self.kubeconfig_dir},
            results=results or {},
            # the Pipeline binds no kubeconfig workspace: helm runs as the TaskRun's ServiceAccount
            extra_env={"KUBECONFIG": str(self.kubeconfig_dir / "kubeconfig")},
            path_prepend=[self.helm_bin],
        )

    def action(self, action: str, **params: str) -> StepRun:
        """The glm-tts-canary step with its defaults and `params`, as a TaskRun outside the Pipeline."""
        defaults = {p["name"]: p.get("default", "") for p in task("glm-tts-canary")["spec"]["params"]}
        given = defaults | {"ACTION": action, "RELEASE": self.release, "NAMESPACE": self.namespace,
                            "TIMEOUT": "3m"} | params  # fmt: skip
        return run_task_step(
            canary_step(),
            params=given,
            workspaces={"source": REPO, "kubeconfig": self.kubeconfig_dir},
            tmp=self.tmp / f"action-{action}",
            extra_env={"KUBECONFIG": "/nonexistent"},  # only the workspace's kubeconfig may work
            path_prepend=[self.helm_bin],
        )

    # ------------------------------------------------------------------ what the cluster holds
    def releases(self) -> list[str]:
        """Every release helm keeps in the namespace, whatever its state (its storage Secrets)."""
        stored = self.plane.get("secrets", "-n", self.namespace, "-l", "owner=helm")["items"]
        return sorted({s["metadata"]["labels"]["name"] for s in stored})

    def revision(self) -> int:
        return self.helm.history(self.release, self.namespace)[-1]["revision"]

    def backends(self) -> list[tuple[str, int, int | None]]:
        route = self.plane.get("httproute", self.release, "-n", self.namespace)
        (rule,) = route["spec"]["rules"]
        return [(b["name"], b["port"], b.get("weight")) for b in rule["backendRefs"]]

    def image(self, deployment: str) -> str:
        """The server container's image in the Deployment."""
        pod = self.plane.get("deployment", deployment, "-n", self.namespace)["spec"]["template"]["spec"]
        return pod["containers"][0]["image"]

    def hook_images(self, release: str) -> set[str]:
        """The images of the release's hook Jobs (preflight, verify): where hooks.image lands."""
        hooks = yaml.safe_load_all(self.helm("get", "hooks", release, "-n", self.namespace).stdout)
        return {
            c["image"]
            for doc in hooks
            if doc and doc["kind"] == "Job"
            for c in doc["spec"]["template"]["spec"]["containers"]
        }

    def deployments(self) -> list[str]:
        items = self.plane.get("deployments", "-n", self.namespace)["items"]
        return sorted(d["metadata"]["name"] for d in items if not d["metadata"].get("deletionTimestamp"))


def ok(run: StepRun) -> StepRun:
    assert run.returncode == 0, f"rc {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


def deployer_kubeconfig(plane: ControlPlane, namespace: str, dest: Path) -> Path:
    """Apply the deployer's RBAC with its namespaces moved to the test's (the cluster-scoped pair
    renamed per namespace) and return a workspace folder holding its kubeconfig."""
    docs = [d for d in yaml.safe_load_all(DEPLOYER_RBAC.read_text()) if d]
    for doc in docs:
        meta = doc["metadata"]
        if "namespace" in meta:
            meta["namespace"] = namespace
        else:
            meta["name"] = f"{meta['name']}-{namespace}"
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{namespace}"
    plane.apply(docs)
    dest.mkdir(parents=True)
    shutil.copy(plane.service_account_kubeconfig(namespace, "glm-tts-deployer"), dest / "kubeconfig")
    return dest


@pytest.fixture
def site(control_plane: ControlPlane, helm: Helm, namespace: str, tmp_path: Path) -> Site:
    control_plane.require_crds()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(helm.binary)
    here = Site(control_plane, helm, namespace, tmp_path,
                deployer_kubeconfig(control_plane, namespace, tmp_path / "kube"), bin_dir)  # fmt: skip
    # the weights claim the stable release reads and values-canary.yaml names (existingClaim)
    control_plane.apply({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "glm-tts-models", "namespace": namespace},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "30Gi"}}},
    })  # fmt: skip
    wait_for(
        lambda: control_plane.get("pvc", "glm-tts-models", "-n", namespace)["status"].get("phase") == "Bound",
        "the weights claim to bind",
    )
    stable_values = tmp_path / "stable-route.yaml"
    stable_values.write_text(yaml.safe_dump(STABLE_ROUTE))
    # the stable release, as glm-tts-cicd's deploy installs it (its own step, as the deployer)
    (deploy,) = task("glm-tts-helm-deploy")["spec"]["steps"]
    defaults = {p["name"]: p.get("default", "") for p in task("glm-tts-helm-deploy")["spec"]["params"]}
    ok(run_task_step(
        deploy,
        params={k: v for k, v in defaults.items() if isinstance(v, str)} | {
            "RELEASE": here.release, "NAMESPACE": namespace, "TIMEOUT": "3m",
            "IMAGE": IMAGE, "IMAGE_DIGEST": OLD,
        },
        array_params={"VALUES_FILES": [CPU_VALUES, str(stable_values)],
                      "SET_VALUES": [f"fullnameOverride={here.release}"]},
        workspaces={"source": REPO, "kubeconfig": here.kubeconfig_dir},
        tmp=tmp_path / "stable",
        extra_env={"KUBECONFIG": "/nonexistent"},
        path_prepend=[bin_dir],
    ))  # fmt: skip
    # one backend: the API server defaults its weight to 1, i.e. every request
    assert here.backends() == [(here.release, 8080, 1)]
    return here


def deploy_and_route(site: Site) -> None:
    """deploy-canary and route, as the Pipeline wires them; checks the 75/25 split."""
    deployed = ok(site.pipeline_task("deploy-canary", results=FETCHED))
    assert deployed.results["RELEASE_REVISION"] == "1"
    assert site.image(site.canary) == f"{IMAGE}@{NEW}"
    assert site.hook_images(site.canary) == {f"{HOOKS_IMAGE}@{HOOKS_NEW}"}
    # values-canary.yaml: no route of its own, one replica, the stable release's weights claim
    assert site.plane.get("httproutes", "-n", site.namespace)["items"].__len__() == 1
    canary = site.plane.get("deployment", site.canary, "-n", site.namespace)
    assert canary["spec"]["replicas"] == 1
    claims = [v["persistentVolumeClaim"]["claimName"] for v in canary["spec"]["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v]  # fmt: skip
    assert "glm-tts-models" in claims

    routed = ok(site.pipeline_task("route"))
    assert site.backends() == [(site.release, 8080, 75), (site.canary, 8080, 25)]
    # the canary's backendRef is the public Service its release publishes, on that port
    service = site.plane.get("service", site.canary, "-n", site.namespace)
    assert [p["port"] for p in service["spec"]["ports"]] == [8080]
    assert routed.results == {"RELEASE_REVISION": "2", "CANARY_WEIGHT": "25"}
    assert f"'{site.canary}' receives 25 % of the requests of '{site.release}'" in routed.stdout
    # the stable release kept its own image: route changes the route only
    assert site.image(site.release) == f"{IMAGE}@{OLD}"


def test_route_then_promote_on_verify_success(site: Site) -> None:
    deploy_and_route(site)

    # a re-run of route converges to the same split (a new revision, nothing else)
    again = ok(site.pipeline_task("route", CANARY_WEIGHT="40"))
    assert site.backends() == [(site.release, 8080, 60), (site.canary, 8080, 40)]
    assert again.results == {"RELEASE_REVISION": "3", "CANARY_WEIGHT": "40"}

    # promote refuses an image the canary does not run: only what verify checked goes out
    other = "sha256:" + "9" * 64
    refused = site.action("promote", IMAGE=IMAGE, IMAGE_DIGEST=other)
    assert refused.returncode == 1
    assert f"error: canary release '{site.canary}' does not run {other}: only the image verify checked" in (
        refused.stderr
    )
    assert site.revision() == 3 and site.releases() == sorted([site.release, site.canary])

    promoted = ok(site.pipeline_task("promote", results=FETCHED))
    assert site.backends() == [(site.release, 8080, 1)]
    assert site.image(site.release) == f"{IMAGE}@{NEW}"
    assert site.hook_images(site.release) == {f"{HOOKS_IMAGE}@{HOOKS_NEW}"}
    values = json.loads(site.helm("get", "values", site.release, "-n", site.namespace, "-o", "json").stdout)
    assert (values["image"]["tag"], values["hooks"]["image"]["tag"]) == (COMMIT, COMMIT)  # the fetched commit
    assert site.releases() == [site.release]
    wait_for(lambda: site.deployments() == [site.release], "the canary's Deployment to go")
    assert promoted.results == {"RELEASE_REVISION": "4", "CANARY_WEIGHT": "0"}
    assert f"'{site.release}' runs {NEW} and receives all requests" in promoted.stdout
    # the stable release's own values survived --reset-then-reuse-values
    assert values["server"]["backend"] == "espeak" and values["fullnameOverride"] == site.release
    assert site.helm.history(site.release, site.namespace)[-1]["status"] == "deployed"
    route = site.plane.get("httproute", site.release, "-n", site.namespace)["spec"]
    assert route["hostnames"] == ["tts.glm-tts.test"]

    # a re-run after success changes nothing
    rerun = ok(site.pipeline_task("promote", results=FETCHED))
    assert f"'{site.release}' already runs {NEW} and '{site.canary}' is gone" in rerun.stdout
    assert rerun.results == {"RELEASE_REVISION": "4", "CANARY_WEIGHT": "0"}
    assert site.revision() == 4


def test_route_then_rollback_on_verify_failure(site: Site) -> None:
    # route before any canary exists is refused: the route would send requests nowhere
    early = site.action("route", WEIGHT="10")
    assert early.returncode == 1
    assert (
        f"error: canary release '{site.canary}' not found in namespace '{site.namespace}': "
        "deploy it before routing traffic to it"
    ) in early.stderr

    deploy_and_route(site)
    # rollback is given no task results: it must also run when fetch-source never produced one
    rolled = ok(site.pipeline_task("rollback", results={}))
    assert site.backends() == [(site.release, 8080, 1)]
    assert site.image(site.release) == f"{IMAGE}@{OLD}"
    assert f"{HOOKS_IMAGE}@{HOOKS_NEW}" not in site.hook_images(site.release)
    assert site.releases() == [site.release]
    wait_for(lambda: site.deployments() == [site.release], "the canary's Deployment to go")
    assert rolled.results == {"RELEASE_REVISION": "3", "CANARY_WEIGHT": "0"}
    assert f"'{site.release}' receives all requests; '{site.canary}' is gone" in rolled.stdout

    # a re-run (or a rollback after a deploy that never got routed) converges with no upgrade
    rerun = ok(site.pipeline_task("rollback"))
    assert f"'{site.release}' sends no requests to '{site.canary}'" in rerun.stdout
    assert f"canary release '{site.canary}' is not installed: nothing to uninstall" in rerun.stdout
    assert rerun.results == {"RELEASE_REVISION": "3", "CANARY_WEIGHT": "0"}
    assert site.revision() == 3


def test_rollback_finishes_a_half_done_rollback(site: Site) -> None:
    """The route was put back but the canary's uninstall failed: a re-run only uninstalls."""
    deploy_and_route(site)
    ok(site.action("route", WEIGHT="1"))  # nearly nothing, still routed
    site.helm("upgrade", site.release, str(REPO / "charts/glm-tts"), "-n", site.namespace,
              "--reset-then-reuse-values", "--set", "httpRoute.canary.weight=0",
              "--set-string", "httpRoute.canary.serviceName=")  # fmt: skip
    revision = site.revision()
    rolled = ok(site.action("rollback"))
    assert f"'{site.release}' sends no requests to '{site.canary}'" in rolled.stdout
    assert f"+ helm uninstall {site.canary}" in rolled.stdout
    assert site.releases() == [site.release] and site.revision() == revision


@pytest.mark.parametrize("action", ["route", "promote", "rollback"])
def test_every_action_refuses_a_namespace_without_the_stable_release(
    control_plane: ControlPlane, helm4: Helm, namespace: str, tmp_path: Path, action: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(helm4.binary)
    site = Site(control_plane, helm4, namespace, tmp_path,
                deployer_kubeconfig(control_plane, namespace, tmp_path / "kube"), bin_dir)  # fmt: skip
    run = site.action(action, IMAGE_DIGEST=NEW if action == "promote" else "")
    assert run.returncode == 1
    expected = {
        "route": "deploy it before routing to a canary",
        "promote": "nothing to promote into",
        "rollback": "(the canary release, if any, is uninstalled)",
    }[action]
    assert f"error: stable release 'tts' not found in namespace '{namespace}'" in run.stderr
    assert expected in run.stderr
    assert run.results == {}


def test_rollback_after_deploy_canary_failed(site: Site) -> None:
    """deploy-canary fails (here the chart refuses the values, so no canary release is left); verify
    never runs, so rollback does, with no task results, and leaves the stable release untouched."""
    failed = site.pipeline_task(
        "deploy-canary", results=FETCHED, SET_VALUES=["httpRoute.canary.serviceName=elsewhere"]
    )
    assert failed.returncode == 1
    assert "httpRoute.canary.serviceName splits the HTTPRoute's traffic" in failed.stderr
    revision = site.revision()

    rolled = ok(site.pipeline_task("rollback"))
    assert f"'{site.release}' sends no requests to '{site.canary}'" in rolled.stdout
    assert f"canary release '{site.canary}' is not installed: nothing to uninstall" in rolled.stdout
    assert rolled.results == {"RELEASE_REVISION": str(revision), "CANARY_WEIGHT": "0"}
    assert site.releases() == [site.release] and site.revision() == revision
    assert site.backends() == [(site.release, 8080, 1)]
