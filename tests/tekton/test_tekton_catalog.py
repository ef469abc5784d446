"""Catalog rules: every YAML is valid for its engine, and the TEP-0003 conventions hold.

Tekton objects are checked against the v1.15.0 CRD schemas, RBAC and ServiceAccounts against the
strict Kubernetes schemas, Triggers objects (no schema available here) structurally.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from harness.kube_schema import validate_all
from harness.paths import TEKTON_CATALOG
from harness.tekton_schema import validate_tekton
from task_steps import (
    TEKTON_KINDS,
    VAR,
    all_documents,
    all_steps,
    catalog_resources,
    documents,
    repo_relative,
    yaml_files,
)

TASKS = catalog_resources("task")
PIPELINES = catalog_resources("pipeline")
RESOURCES = [("task", *t) for t in TASKS] + [("pipeline", *p) for p in PIPELINES]
REQUIRED_ANNOTATIONS = (
    "tekton.dev/pipelines.minVersion",
    "tekton.dev/categories",
    "tekton.dev/tags",
    "tekton.dev/displayName",
    "tekton.dev/platforms",
)
EXPECTED_TASKS = {
    "glm-tts-build-image",
    "glm-tts-gpu-preflight",
    "glm-tts-cuda-check",
    "glm-tts-helm-deploy",
    "glm-tts-canary",
    "glm-tts-verify",
    "glm-tts-batch-plan",
    "glm-tts-batch-synthesize",
    "glm-tts-batch-gather",
}
EXPECTED_PIPELINES = {"glm-tts-cicd", "glm-tts-batch", "glm-tts-canary-release"}
TRIGGERS_KINDS = {"EventListener", "TriggerBinding", "TriggerTemplate"}
KUBE_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def ids(items):
    return [repo_relative(i) if isinstance(i, Path) else str(i) for i in items]


def test_catalog_holds_every_task_and_pipeline():
    assert {name for name, _, _ in TASKS} == EXPECTED_TASKS
    assert {name for name, _, _ in PIPELINES} == EXPECTED_PIPELINES


@pytest.mark.parametrize("path", yaml_files(), ids=ids(yaml_files()))
def test_every_yaml_validates_against_its_engine(path):
    docs = documents(path)
    assert docs, f"{path} holds no documents"
    for doc in docs:
        kind = doc.get("kind")
        if kind in TEKTON_KINDS:
            validate_tekton(doc)
        elif kind in KUBE_KINDS or (doc.get("apiVersion") == "v1" and kind in {"PersistentVolumeClaim"}):
            validate_all([doc])
        elif kind in TRIGGERS_KINDS:
            assert doc["apiVersion"] == "triggers.tekton.dev/v1beta1"
            assert doc["metadata"]["name"] and isinstance(doc["spec"], dict)
        else:
            pytest.fail(f"{path}: unexpected kind {kind!r} (no engine to validate it)")


@pytest.mark.parametrize(
    ("kind_dir", "name", "version", "main"), RESOURCES, ids=[f"{k}/{n}/{v}" for k, n, v, _ in RESOURCES]
)
def test_tep0003_layout_and_metadata(kind_dir, name, version, main):
    directory = main.parent
    assert main.is_file(), f"{kind_dir}/{name}/{version} needs {main.name}"
    (doc,) = documents(main)
    assert doc["kind"] == {"task": "Task", "pipeline": "Pipeline"}[kind_dir]
    meta = doc["metadata"]
    assert meta["name"] == name, "metadata.name must match the directory"
    assert meta["labels"]["app.kubernetes.io/version"] == version, "version label must match the directory"
    for key in REQUIRED_ANNOTATIONS:
        assert str(meta.get("annotations", {}).get(key, "")).strip(), f"{name}: annotation {key} missing"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["annotations"]["tekton.dev/pipelines.minVersion"])
    assert len(doc["spec"].get("description", "").strip()) > 40, f"{name}: spec.description missing"
    for param in doc["spec"].get("params", []):
        assert param.get("description"), f"{name}: param {param['name']} has no description"
    for result in doc["spec"].get("results", []):
        assert result.get("description"), f"{name}: result {result['name']} has no description"
    for ws in doc["spec"].get("workspaces", []):
        assert ws.get("description"), f"{name}: workspace {ws['name']} has no description"
    readme = (directory / "README.md").read_text()
    for heading in ("## Parameters", "## Results", "## Workspaces", "## Install", "## Usage"):
        if heading == "## Results" and not doc["spec"].get("results"):
            continue
        assert heading in readme, f"{name}/README.md lacks {heading!r}"
    for item in doc["spec"].get("params", []) + doc["spec"].get("results", []):
        assert f"`{item['name']}`" in readme, f"{name}/README.md does not document {item['name']}"
    assert_install_section(kind_dir, name, version, readme)
    samples = list((directory / "samples").glob("*.yaml"))
    assert samples, f"{name} needs samples/*.yaml"
    runs = [d for s in samples for d in documents(s)]
    assert any(d["kind"] in ("TaskRun", "PipelineRun") for d in runs)
    assert (directory / "tests" / "run.yaml").is_file(), f"{name} needs tests/run.yaml"


CANONICAL_GIT = "https://github.com/glm-tts/glm-tts-k8s.git"
BUNDLE_REPO = "ghcr.io/glm-tts/tekton"
HUB_REPOS = {"task": "glm-tts-tasks", "pipeline": "glm-tts-pipelines"}
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def resolver_blocks(readme: str) -> dict[str, dict[str, str]]:
    """{resolver: {param: value}} from the README's YAML examples."""
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", readme, re.S):
        ref = yaml.safe_load(block)
        spec = ref.get("taskRef") or ref.get("pipelineRef") if isinstance(ref, dict) else None
        if isinstance(spec, dict) and "resolver" in spec:
            out[spec["resolver"]] = {p["name"]: p["value"] for p in spec["params"]}
    return out


def assert_install_section(kind_dir: str, name: str, version: str, readme: str) -> None:
    """What `tkn hub install` and the resolvers need, with the real values (issue: Artifact Hub)."""
    assert SEMVER.fullmatch(version), f"{name}: version folder {version!r} is not full SemVer (Artifact Hub)"
    install = f"tkn hub install task {name} --type artifact --from {HUB_REPOS[kind_dir]} --version {version}"
    if kind_dir == "task":  # tkn hub install has no pipeline verb (v0.46): pipelines use the hub resolver
        assert install in readme, f"{name}/README.md lacks the exact line: {install}"
    assert f"kubectl apply -f tekton-catalog/{kind_dir}/{name}/{version}/{name}.yaml" in readme
    blocks = resolver_blocks(readme)
    assert blocks["git"] == {
        "url": CANONICAL_GIT,
        "revision": f"tekton/{name}/v{version}",
        "pathInRepo": f"tekton-catalog/{kind_dir}/{name}/{version}/{name}.yaml",
    }
    assert blocks["hub"] == {
        "type": "artifact",
        "catalog": HUB_REPOS[kind_dir],
        "kind": kind_dir,
        "name": name,
        "version": version,
    }
    bundle = blocks["bundles"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", bundle["bundle"].rsplit("@", 1)[1]), "pin the real digest"
    assert bundle["name"] == name and bundle["kind"] == kind_dir
    assert re.fullmatch(
        rf"{re.escape(BUNDLE_REPO)}/{name}:{re.escape(version)}@sha256:([0-9a-f]{{64}}|<digest>)",
        bundle["bundle"],
    ), bundle["bundle"]
    assert "example" not in readme, f"{name}/README.md still shows a placeholder host"


@pytest.mark.parametrize("kind_dir", ["task", "pipeline"])
def test_artifact_hub_repository_metadata(kind_dir):
    meta = yaml.safe_load((TEKTON_CATALOG / kind_dir / "artifacthub-repo.yml").read_text())
    assert set(meta) <= {"repositoryID", "owners", "ignore"}
    assert meta["owners"] and all(o["name"] and "@" in o["email"] for o in meta["owners"])
    # Artifact Hub lists <path>/<name>/<version>/<name>.yaml: nothing else may sit beside the packages
    for entry in (TEKTON_CATALOG / kind_dir).iterdir():
        assert entry.is_dir() or entry.name == "artifacthub-repo.yml", entry


def test_every_task_and_pipeline_is_exercised_by_a_sample_and_a_test():
    def refs(paths):
        names = set()
        for path in paths:
            for doc in documents(path):
                text = yaml.safe_dump(doc)
                names.update(re.findall(r"name: (glm-tts-[a-z-]+)", text))
        return names

    samples = refs(TEKTON_CATALOG.glob("*/*/*/samples/*.yaml"))
    tests = refs(TEKTON_CATALOG.glob("*/*/*/tests/run.yaml"))
    for name in EXPECTED_TASKS | EXPECTED_PIPELINES:
        assert name in samples, f"no sample runs {name}"
        assert name in tests, f"no tests/run.yaml runs {name}"


STEPS = list(all_steps())


@pytest.mark.parametrize(
    ("path", "owner", "step"), STEPS, ids=[f"{repo_relative(p)}:{o}:{s.get('name')}" for p, o, s in STEPS]
)
def test_every_step_is_named_pinned_and_env_driven(path, owner, step):
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", step.get("name", "")), f"{owner}: unnamed step"
    image = step["image"]
    if image.startswith("$(params."):
        pname = image[len("$(params.") : -1]
        docs = [d for p, d in all_documents() if p == path and d["kind"] in ("Task", "Pipeline")]
        params = _params_for(docs[0], owner) if docs else []
        default = next((p.get("default") for p in params if p["name"] == pname), None)
        assert default, f"{owner}: image param {pname} needs a pinned default"
        image = default
    assert_pinned(image, owner)
    if "script" in step:
        script = step["script"]
        assert script.startswith("#!"), f"{owner}/{step['name']}: script needs a shebang"
        hits = VAR.findall(script)
        assert not hits, f"{owner}/{step['name']}: Tekton variables inside the script: {hits}; use env"


def _params_for(doc, owner):
    if doc["kind"] == "Task":
        return doc["spec"].get("params", [])
    for section in ("tasks", "finally"):
        for pt in doc["spec"].get(section, []):
            if owner.endswith(f"{section}/{pt['name']}"):
                return pt["taskSpec"].get("params", [])
    return []


def assert_pinned(image: str, where: str) -> None:
    assert "$(" not in image or "@sha256:" not in image, where
    if "$(" in image:
        return  # a run-time reference such as the digest a build produced
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    assert ":" in last, f"{where}: image {image} has no tag"
    assert not last.endswith(":latest"), f"{where}: image {image} uses :latest"
    if digest:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{where}: bad digest in {image}"


def test_external_tool_images_are_pinned_by_digest():
    """Images we do not build (Kaniko, helm, busybox) must be digests, not just tags."""
    for path, owner, step in STEPS:
        image = step["image"]
        if image.startswith("$(params.HELM_IMAGE"):
            image = next(
                p["default"]
                for d in documents(path)
                for p in d["spec"]["params"]
                if p["name"] == "HELM_IMAGE"
            )
        if "glm-tts-hooks" in image or image.startswith("$("):
            continue
        assert re.search(r"@sha256:[0-9a-f]{64}$", image), (
            f"{owner}/{step['name']}: {image} not pinned by digest"
        )


def test_kaniko_is_the_maintained_fork():
    (step,) = [s for p, o, s in STEPS if "glm-tts-build-image" in o and s["name"] == "build-and-push"]
    assert step["image"].startswith("ghcr.io/osscontainertools/kaniko:")
    assert "gcr.io/kaniko-project" not in step["image"]


def test_steps_run_as_non_root_except_kaniko():
    for _path, owner, step in STEPS:
        sc = step.get("securityContext", {})
        if step["image"].startswith("ghcr.io/osscontainertools/kaniko"):
            assert sc.get("runAsUser") == 0 and sc.get("allowPrivilegeEscalation") is False
            assert not sc.get("privileged")
            continue
        user = sc.get("runAsUser")
        assert sc.get("runAsNonRoot") is True and isinstance(user, int) and user > 0, (
            f"{owner}/{step['name']} must run as a numeric non-root user"
        )
        assert sc.get("allowPrivilegeEscalation") is False


def test_gpu_limit_on_exactly_one_step_the_cuda_check():
    """Only glm-tts-cuda-check uses a GPU (preflight reads the API; builds need none)."""
    gpu_steps = [
        (owner, step["name"], step["computeResources"]["limits"])
        for _, owner, step in STEPS
        if any("gpu" in k for k in (step.get("computeResources", {}).get("limits") or {}))
        or any("gpu" in k for k in (step.get("computeResources", {}).get("requests") or {}))
    ]
    assert [(o, n) for o, n, _ in gpu_steps] == [("Task/glm-tts-cuda-check", "cuda-check")], gpu_steps
    assert gpu_steps[0][2]["nvidia.com/gpu"] == 1


def test_build_results_are_chains_type_hints():
    (doc,) = documents(TEKTON_CATALOG / "task/glm-tts-build-image/0.1.0/glm-tts-build-image.yaml")
    results = {r["name"]: r for r in doc["spec"]["results"]}
    assert set(results) >= {"IMAGE_URL", "IMAGE_DIGEST"}
    params = {p["name"]: p for p in doc["spec"]["params"]}
    assert params["BUILD_ARGS"]["type"] == "array" and params["EXTRA_ARGS"]["type"] == "array"
    assert {"IMAGE", "CONTEXT", "CONTAINERFILE", "CACHE", "CACHE_REPO", "COMMIT_SHA"} <= set(params)
    (ws,) = [w for w in doc["spec"]["workspaces"] if w["name"] == "dockerconfig"]
    assert ws["optional"] is True


def test_cicd_pipeline_wires_digests_and_reports_status():
    (doc,) = documents(TEKTON_CATALOG / "pipeline/glm-tts-cicd/0.1.0/glm-tts-cicd.yaml")
    tasks = {t["name"]: t for t in doc["spec"]["tasks"]}
    clone = tasks["fetch-source"]["taskRef"]
    assert clone["resolver"] == "git"
    rparams = {p["name"]: p["value"] for p in clone["params"]}
    assert rparams["url"] == "https://github.com/tektoncd-catalog/git-clone.git"
    assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", rparams["revision"]), "git-clone must be pinned"
    # the two builds run in parallel: neither waits for the other
    for name in ("build-service", "build-hooks"):
        assert "runAfter" not in tasks[name]
        build = {p["name"]: p["value"] for p in tasks[name]["params"]}
        assert build["COMMIT_SHA"] == "$(tasks.fetch-source.results.commit)"
        assert "REVISION=$(tasks.fetch-source.results.commit)" in build["BUILD_ARGS"]
    deploy = {p["name"]: p["value"] for p in tasks["deploy"]["params"]}
    assert deploy["IMAGE_DIGEST"] == "$(tasks.build-service.results.IMAGE_DIGEST)"
    assert deploy["HOOKS_IMAGE_DIGEST"] == "$(tasks.build-hooks.results.IMAGE_DIGEST)"
    assert tasks["cuda-check"]["runAfter"] == ["preflight"]
    assert tasks["deploy"]["runAfter"] == ["cuda-check"] and tasks["verify"]["runAfter"] == ["deploy"]
    (when,) = tasks["cuda-check"]["when"]
    assert when == {"input": "$(params.GPU_COUNT)", "operator": "notin", "values": ["0"]}
    cuda = {p["name"]: p["value"] for p in tasks["cuda-check"]["params"]}
    built = "$(tasks.build-service.results.IMAGE_URL)@$(tasks.build-service.results.IMAGE_DIGEST)"
    assert cuda["IMAGE"] == built
    final = {t["name"]: t for t in doc["spec"]["finally"]}
    statuses = {p["value"] for p in final["report-status"]["params"]}
    assert "$(tasks.status)" in statuses
    for name in tasks:
        assert f"$(tasks.{name}.status)" in statuses, f"finally does not report {name}"


def test_batch_pipeline_fans_out_with_a_matrix_over_the_plan():
    (doc,) = documents(TEKTON_CATALOG / "pipeline/glm-tts-batch/0.1.0/glm-tts-batch.yaml")
    tasks = {t["name"]: t for t in doc["spec"]["tasks"]}
    (mparam,) = tasks["synthesize"]["matrix"]["params"]
    assert mparam == {"name": "SHARD", "value": "$(tasks.plan.results.SHARDS[*])"}
    (plan_doc,) = documents(TEKTON_CATALOG / "task/glm-tts-batch-plan/0.1.0/glm-tts-batch-plan.yaml")
    assert {r["name"]: r.get("type") for r in plan_doc["spec"]["results"]}["SHARDS"] == "array"
    assert tasks["gather"]["runAfter"] == ["synthesize"]
    readme = (TEKTON_CATALOG / "pipeline/glm-tts-batch/0.1.0/README.md").read_text()
    assert "default-maximum-matrix-combinations-count" in readme


def test_top_level_readme_lists_everything():
    readme = (TEKTON_CATALOG / "README.md").read_text()
    for name in EXPECTED_TASKS | EXPECTED_PIPELINES:
        assert f"{name}" in readme, f"tekton-catalog/README.md does not list {name}"
    assert "triggers/glm-tts-cicd" in readme


OUR_CLIS = {"glm-tts-server", "glm-tts-hooks"}
MAX_GLUE_LINES = 10


def _image_default(path, owner, step) -> str:
    image = step["image"]
    if image.startswith("$(params."):
        docs = [d for p, d in all_documents() if p == path and d["kind"] in ("Task", "Pipeline")]
        params = _params_for(docs[0], owner) if docs else []
        image = next((p.get("default") for p in params if p["name"] == image[len("$(params.") : -1]), image)
    return image


def test_steps_on_our_images_are_thin_calls_into_our_clis():
    """A step running a glm-tts image calls its CLI through command/args: no script, no logic in YAML."""
    ours = [(p, o, s) for p, o, s in STEPS if "/glm-tts/glm-tts" in _image_default(p, o, s)]
    assert len(ours) >= 6, [s["name"] for _, _, s in ours]
    for _path, owner, step in ours:
        assert "script" not in step, f"{owner}/{step['name']}: move the logic into the CLI"
        assert step.get("command", [None])[0] in OUR_CLIS, f"{owner}/{step['name']}: {step.get('command')}"


SCRIPTED = [(p, o, s) for p, o, s in STEPS if "script" in s]


@pytest.mark.parametrize(
    ("path", "owner", "step"), SCRIPTED, ids=[f"{repo_relative(p)}:{o}:{s['name']}" for p, o, s in SCRIPTED]
)
def test_scripts_are_shell_and_short_where_they_are_glue(path, owner, step):
    """Only third-party images (Kaniko, helm, busybox) keep scripts, and those are shell."""
    first = step["script"].splitlines()[0]
    assert first in ("#!/bin/sh", "#!/busybox/sh"), f"{owner}/{step['name']}: {first}"
    if "busybox" in step["image"]:  # test and report glue
        assert len(step["script"].splitlines()) <= MAX_GLUE_LINES, f"{owner}/{step['name']}"


@pytest.mark.parametrize(
    ("path", "owner", "step"), SCRIPTED, ids=[f"{repo_relative(p)}:{o}:{s['name']}" for p, o, s in SCRIPTED]
)
def test_script_env_matches_the_step_env(path, owner, step):
    """Every PARAM_/WORKSPACE_/RESULT_ variable a script reads is declared in the step's env, and
    every declared one is read (a typo would otherwise surface only on the untested path)."""
    declared = {e["name"] for e in step.get("env", [])}
    used = set(re.findall(r"\b((?:PARAM|WORKSPACE|RESULT)_[A-Z0-9_]+)\b", step["script"]))
    assert used <= declared, f"{owner}/{step['name']}: script reads undeclared {sorted(used - declared)}"
    tekton_vars = {e["name"] for e in step.get("env", []) if VAR.search(str(e.get("value", "")))}
    unused = {n for n in tekton_vars if n not in step["script"]}
    assert not unused, f"{owner}/{step['name']}: env declared but never read: {sorted(unused)}"
