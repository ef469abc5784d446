"""charts/glm-tts: what a first real install and a hostile client ran into, each pinned by a render.

Cross-template rules live here (the Deployment against the Job, the Service and the policy); rules
about one template's output live in the chart's helm-unittest suites (charts/glm-tts/tests/).
"""

from __future__ import annotations

import re

import pytest
from harness.helm import HelmError, find, render_chart
from harness.kube_schema import validate_all
from harness.paths import CHARTS

CHART = CHARTS / "glm-tts"
TEMPLATES = CHART / "templates"
ENVIRONMENTS = CHART / "environments"
OAUTH = {
    "auth": {"existingSecret": "glm-tts-api"},
    "oauth2Proxy": {"enabled": True, "issuerUrl": "https://idp.example.com", "existingSecret": "oidc"},
}


def render(values: dict | None = None, *files: str, **kwargs):
    return render_chart(CHART, values, values_files=[CHART / f for f in files], **kwargs)


def deployment(objects):
    (dep,) = find(objects, "Deployment")
    return dep


def containers(objects, name: str):
    spec = deployment(objects)["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name)


def pod_templates(objects):
    for obj in objects:
        if obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["metadata"], obj["spec"]
        elif obj["kind"] in ("Deployment", "Job"):
            yield (
                obj["metadata"]["name"],
                obj["spec"]["template"]["metadata"],
                obj["spec"]["template"]["spec"],
            )


def preflight_args(objects):
    (job,) = find(objects, "Job", "glm-tts-preflight")
    return job["spec"]["template"]["spec"]["containers"][0]["args"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


# --- Shared conventions (issue 9) -----------------------------------------------------------------


def template_text():
    return {p.name: p.read_text() for p in TEMPLATES.rglob("*") if p.is_file()}


def test_server_port_is_written_once():
    hits = {name for name, text in template_text().items() if "8080" in text and name != "NOTES.txt"}
    assert hits == {"_helpers.tpl"}, f"port 8080 written outside the constant: {hits}"


def test_gpu_limit_merge_and_value_checks_live_in_one_place():
    texts = template_text()
    merges = [name for name, text in texts.items() if "set $limits" in text]
    assert merges == ["_helpers.tpl"]
    fails = sorted(name for name, text in texts.items() if re.search(r"{{-? *fail [(\"]", text))
    assert fails == ["_validate.tpl"], fails


def test_every_image_uses_the_object_shape_and_pins_by_digest():
    digest = "sha256:" + "ab" * 32
    image = {
        "registry": "registry.example.com",
        "repository": "x/y",
        "tag": "1",
        "digest": digest,
        "pullPolicy": "Always",
    }
    values = {
        **OAUTH,
        "image": image,
        "hooks": {"image": image},
        "oauth2Proxy": {**OAUTH["oauth2Proxy"], "image": image},
        "modelDownload": {"image": image},
        "cudaCheck": {"enabled": True},
    }
    objects = render(values)
    seen = 0
    for name, _meta, spec in pod_templates(objects):
        for container in spec["containers"] + spec.get("initContainers", []):
            assert container["image"] == f"registry.example.com/x/y@{digest}", (name, container["name"])
            assert container["imagePullPolicy"] == "Always", (name, container["name"])
            seen += 1
    assert seen >= 7  # server, proxy, download, cuda-check, preflight, verify, test


def test_empty_tag_means_app_version_and_download_defaults_to_hooks_image():
    objects = render()
    assert containers(objects, "server")["image"] == "ghcr.io/glm-tts/glm-tts:0.1.0"
    assert containers(objects, "model-download")["image"] == "ghcr.io/glm-tts/glm-tts-hooks:0.1.0"


def test_pull_secrets_and_security_contexts_reach_every_pod():
    values = {
        "imagePullSecrets": [{"name": "regcred"}],
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1001,
            "fsGroup": 1001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **OAUTH,
    }
    objects = render(values)
    pods = list(pod_templates(objects))
    assert len(pods) == 4
    for name, _meta, spec in pods:
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], name
        assert spec["securityContext"]["runAsUser"] == 1001, name
        for container in spec["containers"] + spec.get("initContainers", []):
            assert container["securityContext"]["runAsUser"] == 1001, (name, container["name"])


def test_string_pull_secrets_are_refused_by_the_schema():
    with pytest.raises(HelmError, match=r"imagePullSecrets"):
        render({"imagePullSecrets": ["regcred"]})


# --- 2. install timing agrees with the start-up budget -------------------------------------------


def test_timeouts_follow_the_start_up_budget():
    objects = render()
    budget = 1800 + 600
    assert deployment(objects)["spec"]["progressDeadlineSeconds"] == budget
    (job,) = find(objects, "Job", "glm-tts-verify")
    assert f"--timeout={budget}" in job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert job["spec"]["activeDeadlineSeconds"] == budget + 60


def test_notes_give_a_helm_timeout_covering_the_budget():
    import subprocess

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
            "--set",
            "startupProbe.maxSeconds=3000",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "--timeout 3600s" in notes
    assert "glm-tts-internal.glm-tts.svc:8080" in notes


# --- 3. no GPU release without weights ------------------------------------------------------------


def test_glmtts_without_weights_or_download_is_refused_with_the_fix():
    with pytest.raises(HelmError, match=r"persistence.existingClaim.*modelDownload.enabled"):
        render({"modelDownload": {"enabled": False}})
    with pytest.raises(HelmError, match=r"persistence.enabled=true"):
        render({"persistence": {"enabled": False}})
    render({"modelDownload": {"enabled": False}, "persistence": {"existingClaim": "weights"}})
    render({"persistence": {"enabled": False}}, "ci/cpu-values.yaml")


def test_download_is_the_hooks_verb_writing_where_the_server_reads():
    objects = render(
        {"modelDownload": {"revision": "v1", "existingSecret": "hf", "endpoint": "https://hf.example"}}
    )
    download = containers(objects, "model-download")
    assert "command" not in download, "the verb's marker is the one skip rule; no shell test"
    assert download["args"] == [
        "fetch-weights",
        "--model-dir=/models",
        "--revision=v1",
        "--endpoint=https://hf.example",
    ]
    env = env_of(download)
    assert env["HOME"]["value"] == "/tmp"
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf", "key": "token", "optional": True}
    mounts = {m["name"]: m for m in download["volumeMounts"]}
    assert mounts["models"]["mountPath"] == "/models" and not mounts["models"].get("readOnly")
    (config,) = find(objects, "ConfigMap", "glm-tts")
    assert config["data"]["GLMTTS_MODEL_DIR"] == "/models"


def test_a_custom_download_command_replaces_the_verb():
    command = ["s5cmd", "sync", "s3://weights/glm-tts/*", "/models/ckpt/"]
    objects = render(
        {"modelDownload": {"command": command, "image": {"registry": "r.example", "repository": "s5"}}}
    )
    download = containers(objects, "model-download")
    assert download["command"] == command and "args" not in download
    assert download["image"] == "r.example/s5:0.1.0"


# --- 4. upgrades on a GPU pool sized for the release ----------------------------------------------


def test_rwo_model_volume_recreates_and_preflight_asks_for_no_surge():
    objects = render()
    assert deployment(objects)["spec"]["strategy"] == {"type": "Recreate"}
    args = preflight_args(objects)
    assert "--surge=0" in args
    assert "--release-selector=app.kubernetes.io/instance=glm-tts,app.kubernetes.io/name=glm-tts" in args
    assert "--node-autoscaler" not in args


def test_shared_volume_surges_only_when_asked_and_preflight_follows():
    rwx = {
        "persistence": {"existingClaim": "w", "accessModes": ["ReadOnlyMany"]},
        "modelDownload": {"enabled": False},
    }
    objects = render(rwx)
    assert deployment(objects)["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert "--surge=0" in preflight_args(objects)
    surge = render(
        {**rwx, "rollout": {"maxSurge": 1, "maxUnavailable": 0}, "preflight": {"nodeAutoscaler": True}}
    )
    assert deployment(surge)["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert {"--surge=1", "--node-autoscaler"} <= set(preflight_args(surge))


def test_impossible_rollouts_are_refused():
    with pytest.raises(HelmError, match=r"cannot both be 0"):
        render(
            {"persistence": {"enabled": False}, "rollout": {"maxSurge": 0, "maxUnavailable": 0}},
            "ci/cpu-values.yaml",
        )
    with pytest.raises(HelmError, match=r"Multi-Attach|cannot attach"):
        render({"rollout": {"strategy": "RollingUpdate", "maxSurge": 1}})


# --- 5. autoscaling owns the replica count --------------------------------------------------------


@pytest.mark.parametrize("mode", ["hpa", "keda"])
def test_replicas_left_out_when_an_autoscaler_owns_them(mode):
    objects = render({"autoscaling": {"mode": mode, "minReplicas": 2}})
    assert "replicas" not in deployment(objects)["spec"]
    assert "--replicas=2" in preflight_args(objects)
    assert deployment(render())["spec"]["replicas"] == 1


# --- 8 + authentication bypass: the credentialed internal path -------------------------------------


def test_proxy_fronted_release_with_open_server_port_is_refused():
    values = {k: v for k, v in OAUTH.items() if k != "auth"}
    with pytest.raises(HelmError, match=r"auth.existingSecret"):
        render(values)


def test_proxy_fronted_server_demands_the_key_and_the_proxy_sends_it():
    objects = render(OAUTH)
    server_key = env_of(containers(objects, "server"))["GLMTTS_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert server_key == {"name": "glm-tts-api", "key": "api-key", "optional": False}
    proxy = containers(objects, "oauth2-proxy")
    assert "--pass-basic-auth=true" in proxy["args"]
    password = env_of(proxy)["OAUTH2_PROXY_BASIC_AUTH_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": "glm-tts-api", "key": "api-key"}


def test_every_in_cluster_client_uses_the_internal_path_with_the_key():
    objects = render({**OAUTH, "metrics": {"serviceMonitor": {"enabled": True}}})
    (internal,) = find(objects, "Service", "glm-tts-internal")
    assert internal["metadata"]["labels"]["app.kubernetes.io/component"] == "internal"
    assert internal["spec"]["ports"][0]["targetPort"] == "http"
    for name, _meta, spec in pod_templates(objects):
        if name in ("glm-tts-verify", "glm-tts-test"):
            (container,) = spec["containers"]
            assert "--url=http://glm-tts-internal.glm-tts.svc:8080" in container["args"]
            key = env_of(container)["GLMTTS_API_KEY"]["valueFrom"]["secretKeyRef"]
            assert key["name"] == "glm-tts-api" and key["optional"] is False
    (monitor,) = find(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["authorization"]["credentials"] == {
        "name": "glm-tts-api",
        "key": "api-key",
    }


def test_ci_namespace_is_admitted_to_the_server_port_only():
    (policy,) = find(render(OAUTH), "NetworkPolicy", "glm-tts")
    server_rules = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "http"]
    peers = [peer for rule in server_rules for peer in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "glm-tts-ci"}}} in peers
    open_rules = [r for r in policy["spec"]["ingress"] if "from" not in r]
    assert [p["port"] for r in open_rules for p in r["ports"]] == ["proxy"]


def test_internal_service_is_found_without_knowing_the_naming_rule():
    objects = render(release="tts-prod")
    services = [
        s
        for s in find(objects, "Service")
        if s["metadata"]["labels"].get("app.kubernetes.io/component") == "internal"
        and s["metadata"]["labels"]["app.kubernetes.io/instance"] == "tts-prod"
    ]
    assert [s["metadata"]["name"] for s in services] == ["tts-prod-glm-tts-internal"]


# --- Minor ------------------------------------------------------------------------------------------


def test_proxy_keeps_listening_while_the_server_drains():
    objects = render(OAUTH)
    assert containers(objects, "oauth2-proxy")["lifecycle"] == {"preStop": {"sleep": {"seconds": 10 + 30}}}
    assert containers(objects, "server")["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}


def test_hook_and_test_pods_do_not_match_the_deployment_selector():
    objects = render()
    selector = deployment(objects)["spec"]["selector"]["matchLabels"]
    pods = [(name, meta) for name, meta, _spec in pod_templates(objects) if name != "glm-tts"]
    assert len(pods) == 3
    for name, meta in pods:
        labels = meta["labels"]
        assert not all(labels.get(k) == v for k, v in selector.items()), name


def test_not_ready_alert_ignores_hook_and_test_pods():
    (rule,) = find(render({"metrics": {"prometheusRule": {"enabled": True}}}), "PrometheusRule")
    expr = rule["spec"]["groups"][0]["rules"][0]["expr"]
    pattern = re.search(r'pod=~"([^"]+)"', expr).group(1)
    assert re.fullmatch(pattern, "glm-tts-5d8f7c9b6-x2k4q")
    for hook_pod in ("glm-tts-verify-abcde", "glm-tts-preflight-x7k2p", "glm-tts-test"):
        assert not re.fullmatch(pattern, hook_pod)


def test_cluster_scoped_preflight_grants_do_not_outlive_the_release():
    objects = render()
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        (obj,) = find(objects, kind)
        annotations = obj["metadata"]["annotations"]
        assert "post-delete" in annotations["helm.sh/hook"].split(",")
        assert {"before-hook-creation", "hook-succeeded", "hook-failed"} <= set(
            annotations["helm.sh/hook-delete-policy"].split(",")
        )


# --- Several model instances per GPU (issue 15): memory and start-up budgets -----------------------


def test_instances_per_gpu_scale_memory_checks_and_the_start_up_budget():
    objects = render({"gpu": {"instancesPerGpu": 3}, "cudaCheck": {"enabled": True}})
    assert "--instances-per-gpu=3" in preflight_args(objects)
    cuda = containers(objects, "cuda-check")["command"]
    assert cuda[cuda.index("--instances-per-gpu") + 1] == "3"
    server = containers(objects, "server")
    assert server["startupProbe"]["failureThreshold"] * server["startupProbe"]["periodSeconds"] >= 3 * 1800
    assert deployment(objects)["spec"]["progressDeadlineSeconds"] == 3 * 1800 + 600
    with pytest.raises(HelmError, match="instancesPerGpu"):
        render({"gpu": {"instancesPerGpu": 0}})


# --- Gray release and environments (issue 13) -------------------------------------------------------


def test_canary_takes_its_weight_of_the_route():
    values = {
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "gw"}],
            "canary": {"serviceName": "glm-tts-canary", "weight": 20},
        }
    }
    (route,) = find(render(values), "HTTPRoute")
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("glm-tts", 80), ("glm-tts-canary", 20)]
    (plain,) = find(render({"httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]}}), "HTTPRoute")
    assert [r["name"] for r in plain["spec"]["rules"][0]["backendRefs"]] == ["glm-tts"]


def test_canary_settings_are_checked():
    with pytest.raises(HelmError, match=r"httpRoute.enabled=true"):
        render({"httpRoute": {"canary": {"serviceName": "glm-tts-canary", "weight": 5}}})
    with pytest.raises(HelmError, match=r"weight"):
        render(
            {
                "httpRoute": {
                    "enabled": True,
                    "parentRefs": [{"name": "gw"}],
                    "canary": {"serviceName": "c", "weight": 101},
                }
            }
        )


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_environment_files_render_valid_objects(environment):
    assert validate_all(render(None, f"environments/values-{environment}.yaml")) > 10


def test_environments_differ_where_a_team_wants_them_to():
    dev = render(None, "environments/values-dev.yaml")
    prod = render(None, "environments/values-prod.yaml")
    assert deployment(dev)["spec"]["replicas"] == 1 and not find(dev, "HorizontalPodAutoscaler")
    assert "replicas" not in deployment(prod)["spec"] and find(prod, "HorizontalPodAutoscaler")
    assert find(prod, "PodDisruptionBudget") and not find(dev, "PodDisruptionBudget")
    assert (
        containers(prod, "oauth2-proxy")
        and len(deployment(dev)["spec"]["template"]["spec"]["containers"]) == 1
    )
    assert deployment(dev)["spec"]["strategy"]["type"] == "Recreate"
    assert deployment(prod)["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    assert (
        containers(prod, "server")["readinessProbe"]["failureThreshold"]
        < containers(dev, "server")["readinessProbe"]["failureThreshold"]
    )


def test_canary_release_beside_prod_has_no_route_or_autoscaler():
    objects = render(
        {"fullnameOverride": "glm-tts-canary"},
        "environments/values-prod.yaml",
        "environments/values-canary.yaml",
        release="glm-tts-canary",
    )
    kinds = {o["kind"] for o in objects}
    assert not kinds & {
        "HTTPRoute",
        "Ingress",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "PersistentVolumeClaim",
    }
    assert deployment(objects)["spec"]["replicas"] == 1
    (internal,) = find(objects, "Service", "glm-tts-canary-internal")
    assert internal["metadata"]["labels"]["app.kubernetes.io/instance"] == "glm-tts-canary"
