"""The glm-tts-canary Task's refusals (its step run with the real helm, before any cluster call)
and the glm-tts-canary-release Pipeline's wiring, checked structurally because no Tekton controller
runs here: which finally task the verify verdict selects, that rollback needs no task results, that
promote rolls out exactly the images the canary ran, and that verify reaches the canary's own
internal Service.

The actions on a real API server (route, promote, rollback, idempotency, the deployer's RBAC) are
in tests/cluster/test_tekton_canary_on_cluster.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from canary_steps import canary_step, pipeline, pipeline_params, pipeline_task, run_task_step
from harness.helm import find, helm_binary, render_chart
from harness.paths import CHARTS, REPO, TEKTON_CATALOG
from task_steps import StepRun, documents, task

CANARY_DIR = TEKTON_CATALOG / "pipeline" / "glm-tts-canary-release" / "0.1.0"
DIGEST = "sha256:" + "a" * 64
WEIGHT_ERROR = "is not a whole percentage from 1 to 100"


def run_action(tmp_path: Path, **params: str) -> StepRun:
    """The step with the Task's defaults and `params`, helm 4 on PATH, and a cluster that refuses
    every connection (the checks under test come before any cluster call)."""
    try:
        real = helm_binary(4)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "helm").exists():
        (bin_dir / "helm").symlink_to(real)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
            "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "nobody", "user": {"token": "x"}}],
            "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
        })
    )  # fmt: skip
    defaults = {p["name"]: p.get("default", "") for p in task("glm-tts-canary")["spec"]["params"]}
    return run_task_step(
        canary_step(),
        params=defaults | {"RELEASE": "tts", "NAMESPACE": "speech"} | params,
        workspaces={"source": REPO, "kubeconfig": None},
        tmp=tmp_path / "run",
        extra_env={"KUBECONFIG": str(kubeconfig)},
        path_prepend=[bin_dir],
        timeout=60,
    )


# ---------------------------------------------------------------------------------------------
# The Task refuses bad input with a message that says what to fix.
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ACTION": "deploy"}, "error: ACTION 'deploy' is not route, promote or rollback"),
        ({"ACTION": ""}, "error: ACTION '' is not route, promote or rollback"),
        ({"ACTION": "Route"}, "error: ACTION 'Route' is not route, promote or rollback"),
        ({"ACTION": "route", "WEIGHT": ""}, f"error: WEIGHT '' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "0"}, f"error: WEIGHT '0' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "101"}, f"error: WEIGHT '101' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "1000"}, f"error: WEIGHT '1000' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "010"}, f"error: WEIGHT '010' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "12.5"}, f"error: WEIGHT '12.5' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "-5"}, f"error: WEIGHT '-5' {WEIGHT_ERROR}"),
        ({"ACTION": "route", "WEIGHT": "10%"}, f"error: WEIGHT '10%' {WEIGHT_ERROR}"),
        ({"ACTION": "promote"}, "error: promote needs IMAGE_DIGEST, the digest the canary runs"),
        (
            {"ACTION": "promote", "IMAGE_DIGEST": "sha256:abc"},
            "error: IMAGE_DIGEST 'sha256:abc' is not a sha256:<64 hex> digest",
        ),
        (
            {"ACTION": "promote", "IMAGE_DIGEST": "A" * 64},
            f"error: IMAGE_DIGEST '{'A' * 64}' is not a sha256:<64 hex> digest",
        ),
        (
            {"ACTION": "promote", "IMAGE_DIGEST": DIGEST, "HOOKS_IMAGE_DIGEST": "latest"},
            "error: HOOKS_IMAGE_DIGEST 'latest' is not a sha256:<64 hex> digest",
        ),
    ],
    ids=[
        "unknown-action", "empty-action", "action-is-case-sensitive", "empty-weight", "weight-0",
        "weight-101", "weight-1000", "weight-leading-zero", "weight-fraction", "weight-negative",
        "weight-with-percent", "promote-without-digest", "promote-short-digest",
        "promote-digest-without-algorithm", "promote-bad-hooks-digest",
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_helm_runs(tmp_path, params, message):
    run = run_action(tmp_path, **params)
    assert run.returncode == 1
    assert run.stderr.strip() == message
    assert run.stdout == "" and run.results == {}


@pytest.mark.parametrize(
    "params",
    [
        {"ACTION": "route", "WEIGHT": "1"},
        {"ACTION": "route", "WEIGHT": "100"},
        {"ACTION": "promote", "IMAGE_DIGEST": DIGEST},
        {"ACTION": "promote", "IMAGE_DIGEST": DIGEST, "HOOKS_IMAGE_DIGEST": "sha256:" + "0" * 64},
        {"ACTION": "rollback"},
    ],
    ids=["weight-1", "weight-100", "promote", "promote-with-hooks-digest", "rollback"],
)
def test_good_input_reaches_the_cluster_and_an_unreachable_one_is_an_error(tmp_path, params):
    """Past validation the first call is `helm status`; a cluster that cannot be reached must stop
    the step, not read as "release not found" (rollback would then report success doing nothing)."""
    run = run_action(tmp_path, **params)
    assert run.returncode == 1
    assert run.stderr.startswith("error: helm status tts: ")
    assert "127.0.0.1:9" in run.stderr and "release: not found" not in run.stderr
    assert run.results == {}


# ---------------------------------------------------------------------------------------------
# The Pipeline's wiring.
def params_of(name: str) -> dict[str, Any]:
    return {p["name"]: p["value"] for p in pipeline_task(name).get("params", [])}


def when_runs(name: str, statuses: dict[str, str]) -> bool:
    """Evaluate a pipeline task's `when` expressions (in/notin) as Tekton does, for task statuses."""
    for expr in pipeline_task(name).get("when", []):
        value = re.sub(r"\$\(tasks\.([a-z0-9-]+)\.status\)", lambda m: statuses[m.group(1)], expr["input"])
        assert "$(" not in value, f"{name}: when input {expr['input']} is not a task status"
        inside = value in expr["values"]
        if (expr["operator"] == "in") != inside:
            return False
    return True


def test_tasks_run_in_order_and_the_verdict_is_applied_in_finally():
    spec = pipeline()["spec"]
    assert [(t["name"], t.get("runAfter")) for t in spec["tasks"]] == [
        ("fetch-source", None),
        ("deploy-canary", ["fetch-source"]),
        ("route", ["deploy-canary"]),
        ("verify", ["route"]),
    ]
    assert [t["name"] for t in spec["finally"]] == ["promote", "rollback"]
    refs = {t["name"]: t["taskRef"].get("name") for t in spec["tasks"] + spec["finally"]}
    assert refs == {
        "fetch-source": None,  # the pinned git-clone through the git resolver
        "deploy-canary": "glm-tts-helm-deploy",
        "route": "glm-tts-canary",
        "verify": "glm-tts-verify",
        "promote": "glm-tts-canary",
        "rollback": "glm-tts-canary",
    }
    assert {n: params_of(n).get("ACTION") for n in ("route", "promote", "rollback")} == {
        "route": "route",
        "promote": "promote",
        "rollback": "rollback",
    }


# Tekton's $(tasks.<name>.status): Succeeded, Failed, or None when the task never ran (skipped
# because something before it failed or was cancelled).
@pytest.mark.parametrize(
    ("verify", "runs"),
    [("Succeeded", "promote"), ("Failed", "rollback"), ("None", "rollback")],
    ids=["verify-passed", "verify-failed", "verify-never-ran"],
)
def test_exactly_one_of_promote_and_rollback_runs_for_each_verify_status(verify, runs):
    ran = [name for name in ("promote", "rollback") if when_runs(name, {"verify": verify})]
    assert ran == [runs]


def test_rollback_runs_whatever_failed_and_uses_no_task_results():
    """A finally task whose result references cannot be resolved is skipped; rollback must run
    after a failed clone or deploy, so it reads params only."""
    rollback = yaml.safe_dump(pipeline_task("rollback"))
    assert "$(tasks." not in rollback.replace("$(tasks.verify.status)", "")
    # promote uses only fetch-source's commit, which exists whenever verify succeeded
    promote = pipeline_task("promote")
    used = set(re.findall(r"\$\(tasks\.([a-z0-9-]+)\.results\.", yaml.safe_dump(promote["params"])))
    assert used == {"fetch-source"}


def test_promote_rolls_out_exactly_the_images_the_canary_ran():
    deploy, promote = params_of("deploy-canary"), params_of("promote")
    for key in ("IMAGE", "IMAGE_TAG", "IMAGE_DIGEST", "HOOKS_IMAGE", "HOOKS_IMAGE_TAG", "HOOKS_IMAGE_DIGEST"):
        assert promote[key] == deploy[key], key
    assert deploy["IMAGE_DIGEST"] == "$(params.IMAGE_DIGEST)"
    assert deploy["HOOKS_IMAGE_DIGEST"] == "$(params.HOOKS_IMAGE_DIGEST)"


def test_every_step_acts_on_the_same_releases_and_chart():
    deploy = params_of("deploy-canary")
    assert deploy["RELEASE"] == "$(params.RELEASE)-canary"
    assert deploy["SET_VALUES"][0] == "fullnameOverride=$(params.RELEASE)-canary"
    assert deploy["VALUES_FILES"] == ["$(params.VALUES_FILES[*])", "$(params.CANARY_VALUES_FILE)"]
    for name in ("route", "promote", "rollback"):
        p = params_of(name)
        same = {k: p[k] for k in ("RELEASE", "NAMESPACE", "CHART", "CHART_VERSION")}
        assert same == {
            "RELEASE": "$(params.RELEASE)",  # the Task derives the canary as RELEASE-canary
            "NAMESPACE": deploy["NAMESPACE"],
            "CHART": deploy["CHART"],
            "CHART_VERSION": deploy["CHART_VERSION"],
        }, name
        assert [w["workspace"] for w in pipeline_task(name)["workspaces"]] == ["source"]
    assert params_of("route")["WEIGHT"] == "$(params.CANARY_WEIGHT)"
    defaults = pipeline_params({k: "x" for k in ("GIT_URL", "GIT_REVISION", "IMAGE", "IMAGE_DIGEST",
                                                 "HOOKS_IMAGE", "HOOKS_IMAGE_DIGEST")})  # fmt: skip
    assert (REPO / defaults["CANARY_VALUES_FILE"]).is_file()
    assert defaults["CANARY_WEIGHT"] == "10"


def test_passed_params_exist_and_required_ones_are_given():
    spec = pipeline()["spec"]
    for pt in spec["tasks"] + spec["finally"]:
        if "name" not in pt["taskRef"]:
            continue
        declared = {p["name"]: p for p in task(pt["taskRef"]["name"])["spec"]["params"]}
        given = {p["name"] for p in pt.get("params", [])}
        assert given <= set(declared), f"{pt['name']}: unknown {sorted(given - set(declared))}"
        required = {n for n, p in declared.items() if "default" not in p}
        assert required <= given, f"{pt['name']} leaves {sorted(required - given)} unset"


def test_verify_reaches_the_canary_internal_service_the_chart_renders():
    """The verify URL and Deployment are the canary's, as the chart names them with
    fullnameOverride=RELEASE-canary and values-canary.yaml."""
    verify = params_of("verify")
    url = "http://$(params.RELEASE)-canary-internal.$(params.NAMESPACE).svc:$(params.SERVICE_PORT)"
    assert verify["URL"] == url
    assert verify["DEPLOYMENT"] == "$(params.RELEASE)-canary"
    assert verify["HOOKS_IMAGE"] == "$(params.HOOKS_IMAGE)@$(params.HOOKS_IMAGE_DIGEST)"
    port = next(p["default"] for p in pipeline()["spec"]["params"] if p["name"] == "SERVICE_PORT")
    objects = render_chart(
        CHARTS / "glm-tts",
        {"fullnameOverride": "shop-canary"},
        release="shop-canary",
        namespace="speech",
        values_files=[CHARTS / "glm-tts/environments/values-canary.yaml"],
    )
    (service,) = find(objects, "Service", "shop-canary-internal")
    assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]
    assert find(objects, "Deployment", "shop-canary")
    assert not find(objects, "HTTPRoute"), "the canary must not publish a route of its own"


def test_samples_and_catalog_test_run_the_pipeline_with_least_privilege_accounts():
    for path in [*CANARY_DIR.glob("samples/*.yaml"), CANARY_DIR / "tests" / "run.yaml"]:
        (run,) = [d for d in documents(path) if d["kind"] == "PipelineRun"]
        assert run["spec"]["pipelineRef"] == {"name": "glm-tts-canary-release"}, path
        given = {p["name"] for p in run["spec"]["params"]}
        required = {p["name"] for p in pipeline()["spec"]["params"] if "default" not in p}
        assert required <= given, f"{path.name} leaves {sorted(required - given)} unset"
        accounts = {s["pipelineTaskName"]: s["serviceAccountName"] for s in run["spec"]["taskRunSpecs"]}
        assert accounts == {
            "deploy-canary": "glm-tts-deployer",
            "route": "glm-tts-deployer",
            "promote": "glm-tts-deployer",
            "rollback": "glm-tts-deployer",
            "verify": "glm-tts-checker",
        }, path
        assert run["spec"]["taskRunTemplate"]["serviceAccountName"] == "glm-tts-ci"


def test_the_chart_readme_names_the_pipeline_that_runs_the_gray_release():
    readme = (CHARTS / "glm-tts" / "README.md").read_text()
    section = readme.split("## Gray release (canary)", 1)[1].split("\n## ", 1)[0]
    assert "glm-tts-canary-release" in section
    assert "glm-tts-cicd` pipeline runs these steps" not in section
