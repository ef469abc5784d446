"""charts/glm-tts rendered with the real helm 3.17 and 4.3, checked the way a cluster would judge it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from glm_tts_hooks.cli import build_parser
from glm_tts_server import constants
from harness.helm import HELM_MAJORS, HelmError, find, render_chart, render_raw
from harness.kube_schema import validate_all
from harness.paths import CHARTS, REPO, shared_path

CHART = CHARTS / "glm-tts"
PROFILES = ["default", *sorted(p.stem for p in (CHART / "ci").glob("*-values.yaml"))]
HOOK_KINDS = {"Job", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Pod"}


def render(profile: str, helm: int = 4, values: dict | None = None, **kwargs):
    files = [] if profile == "default" else [CHART / "ci" / f"{profile}.yaml"]
    return render_chart(CHART, values, helm=helm, values_files=files, **kwargs)


@pytest.fixture(scope="module")
def renders():
    return {(p, h): render(p, h) for p in PROFILES for h in HELM_MAJORS}


def pod_specs(objects):
    for obj in objects:
        kind = obj["kind"]
        if kind == "Pod":
            yield obj["metadata"]["name"], obj["spec"]
        elif kind in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def server_container(objects):
    (deployment,) = find(objects, "Deployment")
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("helm", HELM_MAJORS)
def test_profiles_render_valid_for_oldest_and_newest_kubernetes(renders, profile, helm):
    assert validate_all(renders[profile, helm]) > 10


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_3_and_4_render_the_same_objects(renders, profile):
    assert renders[profile, 3] == renders[profile, 4]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pod_meets_the_restricted_pod_security_standard(renders, profile):
    specs = list(pod_specs(renders[profile, 4]))
    assert specs
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], where
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, name


def test_probes_use_the_service_contract(renders):
    server = server_container(renders["default", 4])
    port = next(p for p in server["ports"] if p["name"] == "http")
    assert port["containerPort"] == constants.HTTP_PORT
    assert server["startupProbe"]["httpGet"]["path"] == constants.READYZ_PATH
    assert server["readinessProbe"]["httpGet"]["path"] == constants.READYZ_PATH
    assert server["livenessProbe"]["httpGet"]["path"] == constants.HEALTHZ_PATH
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["port"] == "http", "probes must not go through the proxy"
    (service,) = find(renders["default", 4], "Service", "glm-tts-internal")
    assert service["spec"]["ports"][0]["port"] == constants.HTTP_PORT


def test_startup_budget_and_progress_deadline_follow_values():
    objects = render("default", values={"startupProbe": {"maxSeconds": 3600, "periodSeconds": 20}})
    server = server_container(objects)
    assert server["startupProbe"]["failureThreshold"] * 20 >= 3600
    (deployment,) = find(objects, "Deployment")
    assert deployment["spec"]["progressDeadlineSeconds"] == 3600 + 600, "budget = model load + image pull"


def test_grace_period_must_outlast_prestop_and_drain():
    with pytest.raises(HelmError, match="terminationGracePeriodSeconds"):
        render("default", values={"terminationGracePeriodSeconds": 30, "server": {"drainTimeoutSeconds": 30}})


def test_gpu_defaults_and_mig(renders):
    (deployment,) = find(renders["default", 4], "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert server_container(renders["default", 4])["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert server_container(renders["full-values", 4])["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == 1
    cpu = server_container(renders["cpu-values", 4])
    assert not any(k.startswith("nvidia.com/") for k in cpu["resources"].get("limits", {}))
    (cpu_deployment,) = find(renders["cpu-values", 4], "Deployment")
    assert "nodeSelector" not in cpu_deployment["spec"]["template"]["spec"]
    assert "tolerations" not in cpu_deployment["spec"]["template"]["spec"]


def test_digest_wins_over_tag(renders):
    assert server_container(renders["default", 4])["image"] == "ghcr.io/glm-tts/glm-tts:0.1.0"
    digest = "sha256:" + "0123456789abcdef" * 4
    assert server_container(renders["full-values", 4])["image"] == f"ghcr.io/glm-tts/glm-tts@{digest}"


def test_models_mounted_read_only_and_shm_in_memory(renders):
    server = server_container(renders["default", 4])
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["models"]["readOnly"] is True
    (deployment,) = find(renders["default", 4], "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["g2p"]["configMap"], "the dictionary is mounted as a directory so updates reach the pod"
    assert "subPath" not in mounts["g2p"]


def test_proxy_is_the_only_way_in(renders):
    objects = renders["oauth-values", 4]
    (service,) = find(objects, "Service", "glm-tts")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["proxy"]
    (policy,) = find(objects, "NetworkPolicy", "glm-tts")
    open_rules = [r for r in policy["spec"]["ingress"] if "from" not in r]
    assert [p["port"] for r in open_rules for p in r["ports"]] == ["proxy"]
    for rule in policy["spec"]["ingress"]:
        if "from" in rule:
            selector = rule["from"][0]
            assert "podSelector" in selector or "namespaceSelector" in selector
    (ingress,) = find(objects, "Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "glm-tts"


def test_proxy_without_credentials_fails_with_the_fix():
    with pytest.raises(HelmError, match="existingSecret"):
        render("default", values={"oauth2Proxy": {"enabled": True, "issuerUrl": "https://idp.example.com"}})


@pytest.mark.parametrize("profile", PROFILES)
def test_no_wildcard_rbac_and_least_privilege(renders, profile):
    for obj in renders[profile, 4]:
        for rule in obj.get("rules", []):
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(key, []), (obj["metadata"]["name"], rule)
    (verify_role,) = find(renders["default", 4], "Role", "glm-tts-verify")
    assert verify_role["rules"] == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["glm-tts"], "verbs": ["get"]}
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_hooks_carry_helm_and_argo_cd_annotations(renders, profile):
    hooks = [o for o in renders[profile, 4] if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    assert {o["kind"] for o in hooks} == HOOK_KINDS
    for obj in hooks:
        annotations = obj["metadata"]["annotations"]
        assert "argocd.argoproj.io/hook" in annotations, obj["metadata"]["name"]


def hooks_cli_pending_contract():
    """Flags/verbs the chart passes per CONTRACTS.md that this checkout's hooks CLI does not know yet."""
    parser = build_parser()
    pending = []
    try:
        parser.parse_args(
            [
                "preflight",
                "--namespace=x",
                "--release-selector=a=b",
                "--surge=0",
                "--node-autoscaler",
                "--instances-per-gpu=2",
            ]
        )
    except SystemExit:
        pending.append("preflight --release-selector/--surge/--node-autoscaler/--instances-per-gpu")
    try:
        parser.parse_args(["fetch-weights", "--model-dir=/models"])
    except SystemExit:
        pending.append("fetch-weights")
    return pending


@pytest.mark.parametrize("profile", PROFILES)
def test_hook_arguments_are_accepted_by_the_hooks_cli(renders, profile):
    pending = hooks_cli_pending_contract()
    if pending:
        pytest.skip(f"hooks CLI does not implement the chart's contract yet: {', '.join(pending)}")
    parser = build_parser()
    commands = []
    for _name, spec in pod_specs(renders[profile, 4]):
        for container in spec["containers"] + spec.get("initContainers", []):
            argv = container.get("args") if "glm-tts-hooks" in container["image"] else None
            if container["name"] == "cuda-check":
                argv = container["command"][1:]
            if argv:
                args = parser.parse_args(argv)
                commands.append(args.command)
    assert {"preflight", "verify"} <= set(commands)


def test_preflight_checks_what_the_deployment_schedules(renders):
    (job,) = find(renders["gpu-values", 4], "Job", "glm-tts-preflight")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {
        "--gpu-count=1",
        "--gpu-resource=nvidia.com/gpu",
        "--runtime-class=nvidia",
        "--fail-on-warning",
        "--storage-class=standard",
    } <= set(args)
    if not hooks_cli_pending_contract():
        parsed = build_parser().parse_args(args)
        assert parsed.gpu_count == 1 and parsed.runtime_class == "nvidia"
    (cpu_job,) = find(renders["cpu-values", 4], "Job", "glm-tts-preflight")
    assert "--gpu-count=0" in cpu_job["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize("profile", PROFILES)
def test_renders_are_deterministic_for_argo_cd(profile):
    files = [] if profile == "default" else [CHART / "ci" / f"{profile}.yaml"]
    assert render_raw(CHART, values_files=files) == render_raw(CHART, values_files=files)


@pytest.mark.parametrize("helm", HELM_MAJORS)
def test_schema_rejects_misspelt_key_and_wrong_type(helm):
    with pytest.raises(HelmError, match="repositry"):
        render("default", helm, values={"image": {"repositry": "x"}})
    with pytest.raises(HelmError, match="count"):
        render("default", helm, values={"gpu": {"count": "one"}})
    with pytest.raises(HelmError, match="resourceName"):
        render("default", helm, values={"gpu": {"resourceName": "amd.com/gpu"}})


def test_optional_objects_follow_their_toggles(renders):
    default_kinds = {o["kind"] for o in renders["default", 4]}
    assert not default_kinds & {
        "ServiceMonitor",
        "PrometheusRule",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "HTTPRoute",
        "Ingress",
        "PodDisruptionBudget",
        "Secret",
    }
    full_kinds = {o["kind"] for o in renders["full-values", 4]}
    assert {
        "ServiceMonitor",
        "PrometheusRule",
        "HorizontalPodAutoscaler",
        "HTTPRoute",
        "PodDisruptionBudget",
    } <= full_kinds
    keda = render("default", values={"autoscaling": {"mode": "keda"}})
    (scaled,) = find(keda, "ScaledObject")
    assert (
        scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
            "stabilizationWindowSeconds"
        ]
        == 600
    )
    (hpa,) = find(renders["full-values", 4], "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "glmtts_queue_depth"


def test_g2p_dictionary_renders_as_jsonl_and_does_not_restart_pods(renders):
    (g2p,) = find(renders["full-values", 4], "ConfigMap", "glm-tts-g2p")
    lines = [json.loads(line) for line in g2p["data"]["g2p_replace_dict.jsonl"].splitlines() if line]
    assert {"word": "重", "pinyin": "chóng"} in lines
    changed = render("full-values", values={"g2p": {"entries": [{"word": "行", "pinyin": "háng"}]}})
    before = find(renders["full-values", 4], "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
    after = find(changed, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
    assert before == after
    resettled = render("full-values", values={"server": {"queueSize": 3}})
    assert find(resettled, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"] != before


def test_no_secret_in_configmaps_or_notes(tmp_path):
    values = {
        "auth": {"existingSecret": "api"},
        "oauth2Proxy": {
            "enabled": True,
            "issuerUrl": "https://idp.example.com",
            "clientId": "cid",
            "clientSecret": "s3cr3t-client",
            "cookieSecret": "c00kie-s3cr3t-0123456789ab",
        },
    }
    objects = render("default", values=values)
    for cm in find(objects, "ConfigMap"):
        text = yaml.safe_dump(cm)
        assert "s3cr3t" not in text and "c00kie" not in text
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    from harness.helm import helm_binary

    out = subprocess.run(
        [
            helm_binary(4),
            "install",
            "glm-tts",
            str(CHART),
            "--dry-run=client",
            "--namespace",
            "glm-tts",
            "-f",
            str(values_file),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "helm test glm-tts" in notes and "port-forward" in notes
    assert "s3cr3t" not in notes and "c00kie" not in notes


def test_chart_yaml_and_values_pass_chart_testing_schema():
    import yamale

    schema = yamale.make_schema(str(shared_path("ct", "chart_schema.yaml")))
    yamale.validate(schema, yamale.make_data(str(CHART / "Chart.yaml")))
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["kubeVersion"] == ">=1.29.0-0"
    for key in ("artifacthub.io/images", "artifacthub.io/license", "artifacthub.io/changes"):
        assert key in chart["annotations"]


def test_readme_table_and_schema_are_current():
    for script in ("gen_values_schema.py", "gen_chart_docs.py"):
        proc = subprocess.run(
            [sys.executable, str(REPO / "scripts" / script), "--check"], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{script}: {proc.stdout}{proc.stderr} (run `make docs`)"
