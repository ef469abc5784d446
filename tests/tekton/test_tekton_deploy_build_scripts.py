"""The deploy, build, preflight and verify step scripts, run out of the Task YAML.

- deploy: with the real helm 3 and helm 4 binaries on PATH. HELM_DRY_RUN=true swaps
  `upgrade --install` for `helm template` with the same chart, values and --set arguments; the
  rendered Deployment must carry the digests. The real upgrade path is run too, against an
  unreachable API server: helm must get past flag parsing and fail only on the cluster.
- build: Kaniko cannot run on this machine (no container root), so the step is given an executor
  that records its argv; what is checked is the command line and the results the script writes.
- preflight/verify: the real `glm-tts-hooks` CLI; without a cluster it must exit 2 (API error) and the
  step must pass that exit code on with a short JSON result.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from harness.helm import helm_binary
from harness.kube_schema import validate_all
from harness.paths import REPO
from task_steps import run_step, task

FIXTURE_CHART = Path(__file__).parent / "fixtures" / "contract-chart"
DIGEST = "sha256:" + "3b7e1c2f5a9d8e4b6c0f1a2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
HOOKS_DIGEST = "sha256:" + "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b"
DEPLOY_DEFAULTS = {
    "CHART": "charts/glm-tts",
    "CHART_VERSION": "",
    "RELEASE": "glm-tts",
    "NAMESPACE": "glm-tts",
    "TIMEOUT": "2m",
    "IMAGE": "",
    "IMAGE_TAG": "",
    "IMAGE_DIGEST": "",
    "HOOKS_IMAGE": "",
    "HOOKS_IMAGE_TAG": "",
    "HOOKS_IMAGE_DIGEST": "",
}


def helm_dir(tmp_path: Path, major: int) -> Path:
    try:
        real = helm_binary(major)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    bin_dir = tmp_path / f"helm{major}-bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "helm").exists():
        (bin_dir / "helm").symlink_to(real)
    return bin_dir


def deploy(tmp_path, major, *, source, params, values_files=(), set_values=(), dry_run=True, env=None):
    (step,) = task("glm-tts-helm-deploy")["spec"]["steps"]
    # the helm home directories point at the pod's emptyDir; locally they go under tmp_path
    extra = {
        "HOME": str(tmp_path / "home"),
        "HELM_CACHE_HOME": str(tmp_path / "hc"),
        "HELM_CONFIG_HOME": str(tmp_path / "hcfg"),
        "HELM_DATA_HOME": str(tmp_path / "hd"),
    }
    extra.update(env or {})
    homes = {"HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"}
    step = dict(step, env=[e for e in step["env"] if e["name"] not in homes])
    return run_step(
        step,
        params=DEPLOY_DEFAULTS | {"DRY_RUN": "true" if dry_run else "false"} | params,
        workspaces={"source": source, "kubeconfig": None},
        array_params={"VALUES_FILES": list(values_files), "SET_VALUES": list(set_values)},
        results_dir=tmp_path / "deploy-results",
        extra_env=extra,
        path_prepend=[helm_dir(tmp_path, major)],
    )


def workspace_with(tmp_path: Path, chart: Path, rel: str) -> Path:
    ws = tmp_path / "source"
    shutil.copytree(chart, ws / rel)
    return ws


def deployments(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "Deployment"]


@pytest.mark.parametrize("major", [3, 4])
def test_deploy_dry_run_renders_the_digests_with_real_helm(tmp_path, major):
    ws = workspace_with(tmp_path, FIXTURE_CHART, "charts/contract")
    run = deploy(
        tmp_path,
        major,
        source=ws,
        params={
            "CHART": "charts/contract",
            "IMAGE": "registry.example.com/ml/glm-tts",
            "IMAGE_TAG": "1234567",
            "IMAGE_DIGEST": DIGEST,
            "HOOKS_IMAGE": "localhost:5000/glm-tts-hooks",
            "HOOKS_IMAGE_DIGEST": HOOKS_DIGEST,
        },
        values_files=["charts/contract/ci/cpu-values.yaml"],
        set_values=["replicas=2"],
    )
    assert run.returncode == 0, run.stderr
    (dep,) = deployments(run.stdout)
    validate_all([dep])
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"registry.example.com/ml/glm-tts@{DIGEST}"
    assert pod["initContainers"][0]["image"] == f"localhost:5000/glm-tts-hooks@{HOOKS_DIGEST}"
    assert dep["spec"]["replicas"] == 2
    assert pod["containers"][0]["env"][0]["value"] == "espeak"  # the values file was applied
    assert dep["metadata"]["labels"]["app.kubernetes.io/version"] == "1234567"  # a string, not 1234567
    assert dep["metadata"]["namespace"] == "glm-tts"
    assert run.results == {"RELEASE_REVISION": "0", "CHART_VERSION": "0.3.1"}
    assert "+ helm template glm-tts charts/contract --namespace glm-tts" in run.stderr


def test_deploy_ignores_empty_array_entries_from_an_unset_trigger_param(tmp_path):
    """The trigger passes VALUES_FILES ["$(tt.params.values-file)"]: "" must mean no file, not an error."""
    ws = workspace_with(tmp_path, FIXTURE_CHART, "charts/contract")
    run = deploy(
        tmp_path, 4, source=ws, params={"CHART": "charts/contract"}, values_files=[""], set_values=[""]
    )
    assert run.returncode == 0, run.stderr
    assert "--values" not in run.stderr and "--set " not in run.stderr


def test_deploy_refuses_bad_inputs(tmp_path):
    ws = workspace_with(tmp_path, FIXTURE_CHART, "charts/contract")
    bad_digest = deploy(
        tmp_path, 4, source=ws, params={"CHART": "charts/contract", "IMAGE_DIGEST": "sha256:abc"}
    )
    assert bad_digest.returncode == 1 and "IMAGE_DIGEST 'sha256:abc' is not a sha256" in bad_digest.stderr
    no_chart = deploy(tmp_path, 4, source=ws, params={"CHART": "charts/nope"})
    assert no_chart.returncode == 1 and "no Chart.yaml in 'charts/nope'" in no_chart.stderr
    oci = deploy(tmp_path, 4, source=ws, params={"CHART": "oci://registry.example.com/charts/glm-tts"})
    assert oci.returncode == 1 and "CHART_VERSION is required" in oci.stderr
    bad_set = deploy(tmp_path, 4, source=ws, params={"CHART": "charts/contract"}, set_values=["novalue"])
    assert bad_set.returncode == 1 and "'novalue' is not KEY=VALUE" in bad_set.stderr
    missing_values = deploy(
        tmp_path, 4, source=ws, params={"CHART": "charts/contract"}, values_files=["nope.yaml"]
    )
    assert missing_values.returncode == 1 and "values file 'nope.yaml' not found" in missing_values.stderr


@pytest.mark.parametrize("major", [3, 4])
def test_deploy_upgrade_command_is_accepted_by_real_helm(tmp_path, major):
    """Without a cluster the upgrade must fail on connecting, i.e. after helm accepted every flag."""
    ws = workspace_with(tmp_path, FIXTURE_CHART, "charts/contract")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    run = deploy(
        tmp_path,
        major,
        source=ws,
        dry_run=False,
        params={
            "CHART": "charts/contract",
            "IMAGE": "registry.example.com/ml/glm-tts",
            "IMAGE_DIGEST": DIGEST,
        },
        values_files=["charts/contract/ci/cpu-values.yaml"],
        set_values=["replicas=2"],
        env={"KUBECONFIG": str(kubeconfig)},
    )
    assert run.returncode != 0
    assert "cluster unreachable" in run.stderr.lower(), run.stderr
    assert "unknown flag" not in run.stderr and "deprecated" not in run.stderr
    flag = "--rollback-on-failure" if major == 4 else "--atomic"
    assert f"--namespace glm-tts {flag} --wait --timeout 2m" in run.stdout
    assert "RELEASE_REVISION" not in run.results


@pytest.mark.parametrize("major", [3, 4])
def test_deploy_dry_run_on_the_real_chart(tmp_path, major):
    chart = REPO / "charts" / "glm-tts"
    if not (chart / "Chart.yaml").is_file() or not (chart / "ci" / "cpu-values.yaml").is_file():
        pytest.skip("charts/glm-tts (with ci/cpu-values.yaml) is not in this checkout yet")
    ws = workspace_with(tmp_path, chart, "charts/glm-tts")
    run = deploy(
        tmp_path,
        major,
        source=ws,
        params={
            "IMAGE": "registry.example.com/ml/glm-tts",
            "IMAGE_TAG": "4f1c2b9e",
            "IMAGE_DIGEST": DIGEST,
            "HOOKS_IMAGE": "registry.example.com/ml/glm-tts-hooks",
            "HOOKS_IMAGE_DIGEST": HOOKS_DIGEST,
        },
        values_files=["charts/glm-tts/ci/cpu-values.yaml"],
    )
    assert run.returncode == 0, run.stderr
    objects = [d for d in yaml.safe_load_all(run.stdout) if d]
    deps = [d for d in objects if d["kind"] == "Deployment"]
    assert deps, "the chart renders no Deployment"
    images = [c["image"] for d in deps for c in d["spec"]["template"]["spec"]["containers"]]
    assert f"registry.example.com/ml/glm-tts@{DIGEST}" in images, images
    chart_version = yaml.safe_load((chart / "Chart.yaml").read_text())["version"]
    assert run.results["CHART_VERSION"] == str(chart_version)


# ---------------------------------------------------------------- build (Kaniko)

RECORDER = """#!/bin/sh
# Records the argv Kaniko would get; writes the digest file the way Kaniko does (--digest-file=).
for a in "$@"; do printf '%s\\n' "$a" >> "$ARGV_LOG"; done
if [ -n "${WRITE_DIGEST:-}" ]; then
  for a in "$@"; do
    case "$a" in --digest-file=*) printf '%s' "$WRITE_DIGEST" > "${a#--digest-file=}" ;; esac
  done
fi
"""


def build(tmp_path, *, params=None, build_args=(), extra_args=(), digest=DIGEST, dockerconfig=None):
    (step,) = task("glm-tts-build-image")["spec"]["steps"]
    recorder = tmp_path / "executor"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    src = tmp_path / "src"
    (src / "inference").mkdir(parents=True, exist_ok=True)
    (src / "inference" / "Containerfile").write_text("FROM scratch\n")
    log = tmp_path / "argv.log"
    log.unlink(missing_ok=True)
    base = {
        "IMAGE": "registry.example.com/ml/glm-tts",
        "COMMIT_SHA": "4f1c2b9e8d7a6c5b4a3928170f6e5d4c3b2a1908",
        "CONTEXT": ".",
        "CONTAINERFILE": "inference/Containerfile",
        "CACHE": "true",
        "CACHE_REPO": "",
        "SOURCE_URL": "https://github.com/glm-tts/glm-tts-k8s.git",
    }
    step = dict(step, env=[e for e in step["env"] if e["name"] != "DOCKER_CONFIG"])
    run = run_step(
        step,
        params=base | (params or {}),
        workspaces={"source": src, "dockerconfig": dockerconfig},
        array_params={"BUILD_ARGS": list(build_args), "EXTRA_ARGS": list(extra_args)},
        results_dir=tmp_path / "build-results",
        extra_env={
            "KANIKO_EXECUTOR": str(recorder),
            "ARGV_LOG": str(log),
            "WRITE_DIGEST": digest,
            "DOCKER_CONFIG": str(tmp_path / "docker"),
        },
    )
    argv = log.read_text().splitlines() if log.exists() else []
    return run, argv, src


def test_build_passes_kaniko_the_tag_label_build_args_and_cache(tmp_path):
    run, argv, src = build(
        tmp_path,
        build_args=["PYTHON_VERSION=3.11", "NOTE=a b=c"],
        extra_args=["--reproducible", "--target=runtime"],
        params={"CACHE_REPO": "registry.example.com/ml/cache"},
    )
    assert run.returncode == 0, run.stderr
    sha = "4f1c2b9e8d7a6c5b4a3928170f6e5d4c3b2a1908"
    assert argv[:5] == [
        f"--dockerfile={src}/inference/Containerfile",
        f"--context=dir://{src}/.",
        f"--destination=registry.example.com/ml/glm-tts:{sha}",
        f"--digest-file={tmp_path}/build-results/IMAGE_DIGEST",
        f"--label=org.opencontainers.image.revision={sha}",
    ]
    assert "--build-arg=PYTHON_VERSION=3.11" in argv and "--build-arg=NOTE=a b=c" in argv
    assert argv.index("--reproducible") < argv.index("--target=runtime")
    assert "--label=org.opencontainers.image.source=https://github.com/glm-tts/glm-tts-k8s.git" in argv
    assert argv[-2:] == ["--cache=true", "--cache-repo=registry.example.com/ml/cache"]
    assert run.results == {"IMAGE_URL": f"registry.example.com/ml/glm-tts:{sha}", "IMAGE_DIGEST": DIGEST}


def test_build_installs_registry_credentials_from_a_dockerconfigjson_secret(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / ".dockerconfigjson").write_text(
        json.dumps({"auths": {"registry.example.com": {"auth": "eDp5"}}})
    )
    run, _, _ = build(tmp_path, dockerconfig=secret, params={"CACHE": "false"})
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "docker" / "config.json").read_text())["auths"]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad, argv, _ = build(tmp_path, dockerconfig=empty)
    assert bad.returncode == 1 and "neither config.json nor .dockerconfigjson" in bad.stderr and not argv


@pytest.mark.parametrize(
    ("params", "build_args", "message"),
    [
        ({"IMAGE": "registry.example.com/ml/glm-tts:v1"}, (), "without a tag"),
        ({"IMAGE": f"registry.example.com/ml/glm-tts@{DIGEST}"}, (), "without a digest"),
        ({"COMMIT_SHA": "feature/x"}, (), "not usable as an image tag"),
        ({"CONTAINERFILE": "missing/Containerfile"}, (), "not found in the source workspace"),
        ({}, ("NOEQUALS",), "is not KEY=VALUE"),
    ],
)
def test_build_rejects_bad_params_before_running_kaniko(tmp_path, params, build_args, message):
    run, argv, _ = build(tmp_path, params=params, build_args=build_args)
    assert run.returncode == 1 and message in run.stderr
    assert argv == []


def test_build_fails_when_kaniko_reports_no_digest(tmp_path):
    run, argv, _ = build(tmp_path, digest="")
    assert argv, "kaniko was run"
    assert run.returncode == 1 and "without writing a digest" in run.stderr
    assert "IMAGE_URL" not in run.results


def test_build_with_a_localhost_registry_port_is_not_mistaken_for_a_tag(tmp_path):
    run, argv, _ = build(tmp_path, params={"IMAGE": "localhost:5000/glm-tts", "CACHE": "false"})
    assert run.returncode == 0, run.stderr
    assert "--destination=localhost:5000/glm-tts:4f1c2b9e8d7a6c5b4a3928170f6e5d4c3b2a1908" in argv
    assert not any(a.startswith("--cache") for a in argv)


# ---------------------------------------------------------------- preflight / verify (real CLI)


def hooks_cli_or_skip() -> None:
    probe = subprocess.run(
        [str(Path(__import__("sys").executable).parent / "glm-tts-hooks"), "preflight", "--help"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0 or "--summary-file" not in probe.stdout:
        pytest.skip(
            "glm-tts-hooks in this checkout lacks the flags the steps pass (CONTRACTS.md 8: "
            "--summary-file, empty = unset, true|false booleans)"
        )


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "glm-tts"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    return path


def test_preflight_maps_params_and_passes_the_cli_exit_code_on(tmp_path):
    hooks_cli_or_skip()
    (step,) = task("glm-tts-gpu-preflight")["spec"]["steps"]
    params = {
        "NAMESPACE": "glm-tts",
        "GPU_RESOURCE": "nvidia.com/gpu",
        "GPU_COUNT": "1",
        "REPLICAS": "2",
        "RUNTIME_CLASS": "nvidia",
        "CUDA_VERSION": "12.4",
        "MIN_GPU_MEMORY_MIB": "10240",
        "PVC": "",
        "STORAGE_CLASS": "fast",
        "FAIL_ON_WARNING": "true",
    }
    run = run_step(
        step,
        params=params,
        workspaces={},
        results_dir=tmp_path / "r",
        array_params={"NODE_SELECTOR": ["pool=gpu"], "TOLERATIONS": ["nvidia.com/gpu:NoSchedule"]},
        extra_env={"KUBECONFIG": str(unreachable_kubeconfig(tmp_path))},
        timeout=120,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)  # API error: no cluster here
    summary = run.results["SUMMARY"]
    assert summary["ok"] is False and summary["exit"] == 2
    assert len(json.dumps(summary)) <= 1024


def test_preflight_rejects_malformed_array_entries(tmp_path):
    hooks_cli_or_skip()
    (step,) = task("glm-tts-gpu-preflight")["spec"]["steps"]
    params = {
        "NAMESPACE": "n",
        "GPU_RESOURCE": "nvidia.com/gpu",
        "GPU_COUNT": "1",
        "REPLICAS": "1",
        "RUNTIME_CLASS": "",
        "CUDA_VERSION": "12.4",
        "MIN_GPU_MEMORY_MIB": "1",
        "PVC": "p",
        "STORAGE_CLASS": "",
        "FAIL_ON_WARNING": "false",
    }
    run = run_step(
        step,
        params=params,
        workspaces={},
        results_dir=tmp_path / "r",
        array_params={"NODE_SELECTOR": ["no-equals"], "TOLERATIONS": []},
    )
    assert run.returncode == 2 and "no-equals" in run.stderr
    both = run_step(
        step,
        params=params | {"STORAGE_CLASS": "fast"},
        workspaces={},
        results_dir=tmp_path / "r2",
        array_params={"NODE_SELECTOR": [], "TOLERATIONS": []},
    )
    assert both.returncode == 2 and "--storage-class" in both.stderr


PREFLIGHT_PARAMS = {
    "NAMESPACE": "glm-tts",
    "GPU_RESOURCE": "nvidia.com/gpu",
    "GPU_COUNT": "1",
    "REPLICAS": "2",
    "RUNTIME_CLASS": "nvidia",
    "CUDA_VERSION": "12.4",
    "MIN_GPU_MEMORY_MIB": "10240",
    "PVC": "",
    "STORAGE_CLASS": "gp3",
    "FAIL_ON_WARNING": "false",
}
PREFLIGHT_ARRAYS = {
    "NODE_SELECTOR": ["nvidia.com/gpu.present=true"],
    "TOLERATIONS": ["nvidia.com/gpu:NoSchedule"],
}


def preflight_against(tmp_path, objects):
    """The preflight step against a kmock cluster (a real HTTP Kubernetes API) holding `objects`."""
    hooks_cli_or_skip()
    from harness.kmock_cluster import running_cluster

    (step,) = task("glm-tts-gpu-preflight")["spec"]["steps"]
    with running_cluster() as cluster:
        cluster.add(*objects)
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        return run_step(
            step,
            params=PREFLIGHT_PARAMS,
            workspaces={},
            results_dir=tmp_path / "pf",
            array_params=PREFLIGHT_ARRAYS,
            extra_env={"KUBECONFIG": str(kubeconfig)},
            timeout=120,
        )


def test_preflight_step_passes_on_a_ready_gpu_cluster(tmp_path):
    from harness.kmock_cluster import cpu_node, gpu_node, namespace_obj, runtime_class, storage_class

    run = preflight_against(
        tmp_path,
        [
            gpu_node("gpu-a"),
            gpu_node("gpu-b"),
            cpu_node("cpu-a"),
            namespace_obj("glm-tts"),
            runtime_class("nvidia"),
            storage_class("gp3", default=True),
        ],
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-2000:])
    summary = run.results["SUMMARY"]
    assert summary["ok"] is True and summary["exit"] == 0 and summary["failed"] == []
    assert summary["counts"]["pass"] >= 5


def test_preflight_step_fails_a_cluster_without_gpus_and_names_the_fix(tmp_path):
    from harness.kmock_cluster import cpu_node, namespace_obj, runtime_class, storage_class

    run = preflight_against(
        tmp_path,
        [
            cpu_node("cpu-a"),
            namespace_obj("glm-tts"),
            runtime_class("nvidia"),
            storage_class("gp3", default=True),
        ],
    )
    assert run.returncode == 1, (run.stdout[-3000:], run.stderr[-2000:])
    summary = run.results["SUMMARY"]
    assert summary["ok"] is False and summary["exit"] == 1 and summary["failed"]
    assert "fix" in run.stdout.lower()
    assert len(json.dumps(summary, separators=(",", ":"))) <= 1024


# ---------------------------------------------------------------- cuda-check (real CLI, no GPU here)


def test_cuda_check_step_fails_without_a_gpu_and_reports_why(tmp_path):
    """On a GPU node this passes; here (no CUDA device) the real CLI must fail and the step with it."""
    hooks_cli_or_skip()
    (step,) = task("glm-tts-cuda-check")["spec"]["steps"]
    run = run_step(
        step,
        params={"MIN_FREE_MEMORY_GIB": "10", "MIN_CAPABILITY": "7.0", "SKIP_PERF": "true"},
        workspaces={},
        results_dir=tmp_path / "cc",
        timeout=180,
    )
    assert run.returncode == 1, (run.stdout[-2000:], run.stderr[-2000:])
    report = run.results["REPORT"]
    assert report["ok"] is False and report["exit"] == 1 and report["failed"]  # no torch or no GPU here
