"""glm-tts-image-policy renders valid, secure, deterministic objects for every engine and profile."""

from __future__ import annotations

import base64
import json
import re

import pytest
import yamale
import yaml
from glm_tts_hooks.image_policy.policy import load_policy, parse_policy
from harness.helm import HelmError, find, render_raw
from harness.kube_schema import validate_all
from harness.paths import shared_path

from .renders import CHART, CI_DIR, NAMESPACE, PROFILES, RELEASE, render

HELMS = (3, 4)
WORKLOAD_RESOURCES = {
    "": {"pods", "pods/ephemeralcontainers", "replicationcontrollers"},
    "apps": {"deployments", "statefulsets", "daemonsets", "replicasets"},
    "batch": {"jobs", "cronjobs"},
}
ENGINE_KINDS = {
    "webhook": {"Deployment", "Service", "ValidatingWebhookConfiguration", "ConfigMap"},
    "validatingAdmissionPolicy": {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
    "kyverno": {"ClusterPolicy"},
}
PROFILE_ENGINE = {
    "webhook-certmanager": "webhook",
    "webhook-existing-tls": "webhook",
    "vap": "validatingAdmissionPolicy",
    "kyverno": "kyverno",
}


def profile_values(profile: str) -> dict:
    return yaml.safe_load((CI_DIR / f"{profile}-values.yaml").read_text())


def only(objects: list[dict], kind: str) -> dict:
    found = find(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    specs = []
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj["kind"] == "Pod":
            specs.append((obj["metadata"]["name"], spec))
        elif "template" in spec and "spec" in spec["template"]:
            specs.append((obj["metadata"]["name"], spec["template"]["spec"]))
        elif "jobTemplate" in spec:
            specs.append((obj["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]))
    return specs


# --- every profile, both helm majors ---------------------------------------------------------------


def test_ci_profiles_are_the_documented_set():
    assert sorted(p.name for p in CI_DIR.glob("*-values.yaml")) == sorted(
        f"{p}-values.yaml" for p in PROFILES
    )


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("profile", PROFILES)
def test_profile_objects_valid_for_oldest_and_newest_kubernetes(profile, helm):
    objects = render(helm=helm, profile=profile)
    kinds = {o["kind"] for o in objects}
    engine = PROFILE_ENGINE[profile]
    assert ENGINE_KINDS[engine] <= kinds
    for other, other_kinds in ENGINE_KINDS.items():
        if other != engine:
            assert not (other_kinds - {"ConfigMap", "Service", "Deployment"}) & kinds, (
                f"{other} objects leaked"
            )
    assert validate_all(objects, kube_versions=("1.30.0", "1.37.0")) == len(objects)


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_renders_for_kubernetes_1_30(profile):
    assert validate_all(render(profile=profile, kube_version="1.30.0"), kube_versions=("1.30.0",))


@pytest.mark.parametrize("profile", PROFILES)
def test_helm3_and_helm4_render_the_same_objects(profile):
    # Same objects; the two majors may order kinds helm does not know (cert-manager CRDs) differently.
    def key(obj):
        return (obj["kind"], obj["metadata"]["name"])

    assert sorted(render(helm=3, profile=profile), key=key) == sorted(
        render(helm=4, profile=profile), key=key
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_two_renders_are_byte_identical(profile):
    files = [CI_DIR / f"{profile}-values.yaml"]
    first = render_raw(CHART, values_files=files, release=RELEASE, namespace=NAMESPACE)
    assert first == render_raw(CHART, values_files=files, release=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_every_pod_is_restricted_pod_security(profile):
    specs = pod_specs(render(profile=profile))
    if PROFILE_ENGINE.get(profile, "webhook") == "webhook":
        assert specs, "the webhook engine runs pods"
    for name, spec in specs:
        assert spec["automountServiceAccountToken"] is False, name
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True
        assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc.get("privileged", False) is False
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        assert all("hostPath" not in v for v in spec.get("volumes", []))


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_no_rbac_and_no_token(profile):
    objects = render(profile=profile)
    # The server needs no API access; if RBAC ever appears it must not use wildcards.
    for obj in objects:
        if obj["kind"] in ("Role", "ClusterRole"):
            for rule in obj.get("rules", []):
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule.get(field, []), f"{obj['kind']}/{obj['metadata']['name']} {field}"
    for sa in find(objects, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


# --- values.schema.json with the real helm ---------------------------------------------------------


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"policy": {"requiredDigest": True}}, "requiredDigest"),
        ({"webhook": {"replicas": 3}}, "replicas"),
        ({"policy": {"signatures": {"publicKey": []}}}, "publicKey"),
        ({"engine": "opa"}, "engine"),
        ({"webhook": {"replicaCount": "two"}}, "replicaCount"),
        ({"policy": {"requireDigest": "yes"}}, "requireDigest"),
        ({"policy": {"allowedRegistries": ["glm-tts/"]}}, "allowedRegistries"),
        ({"policy": {"signatures": {"publicKeys": [{"name": "ci", "pem": "not a key"}]}}}, "pem"),
    ],
    ids=[
        "misspelt-key",
        "misspelt-nested",
        "misspelt-deep",
        "engine-enum",
        "wrong-type-int",
        "wrong-type-bool",
        "registry-without-host",
        "pem-pattern",
    ],
)
def test_schema_rejects_bad_values(values, names, helm):
    with pytest.raises(HelmError) as err:
        render(values, helm=helm)
    assert names in str(err.value)


# --- cross-value checks fail with the fix in the message -----------------------------------------


@pytest.mark.parametrize(
    ("values", "kube_version", "needle"),
    [
        ({"tls": {"certManager": {"enabled": False}}}, "1.37.0", "tls.existingSecret"),
        (
            {"tls": {"certManager": {"enabled": False}, "existingSecret": "tls"}},
            "1.37.0",
            "tls.caBundle",
        ),
        (
            {"policy": {"signatures": {"required": True}}},
            "1.37.0",
            "policy.signatures.publicKeys is empty",
        ),
        (
            {"engine": "kyverno", "policy": {"signatures": {"required": True}}},
            "1.37.0",
            "publicKeys is empty",
        ),
        ({"engine": "validatingAdmissionPolicy"}, "1.29.4", "needs Kubernetes >= 1.30"),
    ],
    ids=[
        "no-tls",
        "existing-secret-without-ca",
        "signatures-without-keys",
        "kyverno-without-keys",
        "vap-on-1.29",
    ],
)
def test_invalid_combinations_fail_clearly(values, kube_version, needle):
    with pytest.raises(HelmError) as err:
        render(values, kube_version=kube_version)
    assert needle in str(err.value)


def test_webhook_engine_works_on_1_29():
    assert find(render(kube_version="1.29.4"), "ValidatingWebhookConfiguration")


# --- the webhook engine -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certmanager():
    return render(profile="webhook-certmanager")


@pytest.fixture(scope="module")
def existing_tls():
    return render(profile="webhook-existing-tls")


def test_validating_webhook_configuration(certmanager):
    vwc = only(certmanager, "ValidatingWebhookConfiguration")
    (hook,) = vwc["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["matchPolicy"] == "Equivalent"
    covered = {}
    for rule in hook["rules"]:
        assert rule["operations"] == ["CREATE", "UPDATE"]
        assert rule["apiVersions"] == ["v1"]
        for group in rule["apiGroups"]:
            covered.setdefault(group, set()).update(rule["resources"])
    assert covered == WORKLOAD_RESOURCES
    service = only(certmanager, "Service")
    assert hook["clientConfig"]["service"] == {
        "name": service["metadata"]["name"],
        "namespace": NAMESPACE,
        "path": "/validate",
        "port": 443,
    }
    expressions = hook["namespaceSelector"]["matchExpressions"]
    by_key = {e["key"]: e for e in expressions}
    names = by_key["kubernetes.io/metadata.name"]
    assert names["operator"] == "NotIn"
    assert {"kube-system", "cert-manager", NAMESPACE} == set(names["values"])
    assert by_key["glm-tts.io/image-policy"] == {  # opt-in by default
        "key": "glm-tts.io/image-policy",
        "operator": "In",
        "values": ["enforce"],
    }


def test_cert_manager_chain_and_ca_injection(certmanager):
    issuers = {i["metadata"]["name"]: i["spec"] for i in find(certmanager, "Issuer")}
    certs = {c["metadata"]["name"]: c["spec"] for c in find(certmanager, "Certificate")}
    ca = next(spec for spec in certs.values() if spec.get("isCA"))
    serving_name, serving = next((n, s) for n, s in certs.items() if not s.get("isCA"))
    # self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate
    assert issuers[ca["issuerRef"]["name"]] == {"selfSigned": {}}
    ca_issuer = issuers[serving["issuerRef"]["name"]]
    assert ca_issuer == {"ca": {"secretName": ca["secretName"]}}
    service = only(certmanager, "Service")["metadata"]["name"]
    assert f"{service}.{NAMESPACE}.svc" in serving["dnsNames"]
    assert "server auth" in serving["usages"]
    vwc = only(certmanager, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/{serving_name}"
    assert "caBundle" not in vwc["webhooks"][0]["clientConfig"]
    deployment = only(certmanager, "Deployment")
    tls = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == serving["secretName"]


def test_existing_tls_secret_and_ca_bundle(existing_tls):
    values = profile_values("webhook-existing-tls")
    assert not find(existing_tls, "Certificate") and not find(existing_tls, "Issuer")
    vwc = only(existing_tls, "ValidatingWebhookConfiguration")
    assert "cert-manager.io/inject-ca-from" not in vwc["metadata"].get("annotations", {})
    bundle = vwc["webhooks"][0]["clientConfig"]["caBundle"]
    assert bundle == values["tls"]["caBundle"]
    assert base64.b64decode(bundle).startswith(b"-----BEGIN CERTIFICATE-----")
    deployment = only(existing_tls, "Deployment")
    tls = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == values["tls"]["existingSecret"]


def test_deployment_serves_the_contract(certmanager):
    deployment = only(certmanager, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["glm-tts-hooks"]
    args = container["args"]
    assert args[:2] == ["image-policy", "serve"]
    flags = dict(a.lstrip("-").split("=", 1) for a in args[2:])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    # Directories, never subPath: the server reloads certificate and policy when the kubelet swaps them.
    assert all("subPath" not in m for m in mounts.values())
    assert flags["cert"] == mounts["tls"]["mountPath"] + "/tls.crt"
    assert flags["key"] == mounts["tls"]["mountPath"] + "/tls.key"
    assert flags["policy"] == mounts["policy"]["mountPath"] + "/policy.yaml"
    assert flags["registry-auth"] == mounts["registry-auth"]["mountPath"] + "/.dockerconfigjson"
    assert flags["port"] == "8443"
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {
            "path": "/healthz",
            "port": "https",
            "scheme": "HTTPS",
        }
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["registry-auth"]["secret"]["secretName"] == "glm-tts-registry"
    assert volumes["policy"]["configMap"]["name"] == only(certmanager, "ConfigMap")["metadata"]["name"]
    # pinned by digest in this profile
    assert container["image"].endswith(
        "@" + profile_values("webhook-certmanager")["webhook"]["image"]["digest"]
    )
    service = only(certmanager, "Service")
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]


def test_availability_spread_and_disruption_budget(certmanager):
    deployment = only(certmanager, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == selector
    (anti,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = only(certmanager, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}


def test_network_policy(certmanager, existing_tls):
    policy = only(certmanager, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    webhook_rule, metrics_rule = policy["ingress"]
    assert webhook_rule == {"ports": [{"port": "https", "protocol": "TCP"}]}  # any source: the API server
    assert metrics_rule["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    dns, registries = policy["egress"]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert [p["port"] for p in registries["ports"]] == [443, 5000]
    restricted = only(existing_tls, "NetworkPolicy")["spec"]["ingress"][0]
    assert [f["ipBlock"]["cidr"] for f in restricted["from"]] == ["10.0.0.0/8", "172.16.0.0/12"]


def test_service_monitor_scrapes_https_metrics(certmanager):
    monitor = only(certmanager, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == (
        "https",
        "/metrics",
        "https",
    )
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert not find(render(), "ServiceMonitor")


def test_argo_cd_sync_waves_order_server_before_admission(certmanager):
    def wave(obj):
        return int(obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])

    waves = {}
    for obj in certmanager:
        waves.setdefault(obj["kind"], set()).add(wave(obj))
    (admission,) = waves.pop("ValidatingWebhookConfiguration")
    certificates = waves.pop("Certificate") | waves.pop("Issuer")
    server = set().union(*waves.values())
    assert max(certificates) < min(server) <= max(server) < admission
    assert admission < 0, "the whole app syncs before workloads in wave 0"
    for profile in ("vap", "kyverno"):
        assert {wave(o) for o in render(profile=profile)} == {admission}


# --- the policy file the webhook reads ---------------------------------------------------------------


@pytest.mark.parametrize("profile", ["webhook-certmanager", "webhook-existing-tls", None])
def test_policy_configmap_loads_with_the_webhook_loader(profile, tmp_path):
    objects = render(profile=profile)
    text = only(objects, "ConfigMap")["data"]["policy.yaml"]
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    loaded = load_policy(path)
    values = yaml.safe_load((CHART / "values.yaml").read_text())["policy"]
    if profile:
        values = {**values, **profile_values(profile)["policy"]}
        values["signatures"] = {
            **yaml.safe_load((CHART / "values.yaml").read_text())["policy"]["signatures"],
            **profile_values(profile)["policy"].get("signatures", {}),
        }
    assert loaded == parse_policy(values)
    assert yaml.safe_load(text) == values


# --- chart metadata ------------------------------------------------------------------------------


def test_chart_yaml_passes_chart_testing_schema():
    schema = yamale.make_schema(str(shared_path("ct", "chart_schema.yaml")))
    data = yamale.make_data(str(CHART / "Chart.yaml"))
    yamale.validate(schema, data, strict=True)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    # the version itself is release metadata (SemVer, bumped per release: tests/delivery checks it)
    assert chart["apiVersion"] == "v2" and re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["kubeVersion"] == ">=1.29.0-0"
    assert chart["maintainers"]
    assert any(k.startswith("artifacthub.io/") for k in chart["annotations"])


# --- toggles -----------------------------------------------------------------------------------------


def test_external_issuer_replaces_the_chart_ca_chain():
    issuer = {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    objects = render({"tls": {"certManager": {"enabled": True, "issuerRef": issuer}}})
    assert not find(objects, "Issuer")
    (serving,) = find(objects, "Certificate")
    assert serving["spec"]["issuerRef"] == issuer
    validate_all(objects)


@pytest.mark.parametrize(
    ("values", "absent"),
    [
        ({"networkPolicy": {"enabled": False}}, "NetworkPolicy"),
        ({"webhook": {"pdb": {"create": False}}}, "PodDisruptionBudget"),
        ({"webhook": {"serviceAccount": {"create": False, "name": "existing"}}}, "ServiceAccount"),
    ],
    ids=["no-networkpolicy", "no-pdb", "existing-serviceaccount"],
)
def test_optional_objects_can_be_turned_off(values, absent):
    objects = render(values)
    assert not find(objects, absent)
    assert find(render(), absent)
    if absent == "ServiceAccount":
        pod = only(objects, "Deployment")["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "existing" and pod["automountServiceAccountToken"] is False


def test_sync_wave_annotations_can_be_turned_off():
    for obj in render({"argocd": {"syncWaves": {"enabled": False}}}):
        assert "argocd.argoproj.io/sync-wave" not in obj["metadata"].get("annotations", {}), obj["kind"]


def test_image_tag_defaults_to_app_version_and_digest_pins():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    (container,) = only(render(), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"registry.example.com/glm-tts/glm-tts-hooks:{chart['appVersion']}"
    digest = "sha256:" + "1" * 64
    pinned = only(render({"webhook": {"image": {"digest": digest}}}), "Deployment")
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"].endswith("@" + digest)


def test_audit_mode_binding_warns_and_audits():
    objects = render({"engine": "validatingAdmissionPolicy", "policy": {"mode": "audit"}})
    binding = only(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    image_policy = [  # without the security pack's policies (one per rule) when it is on
        o for o in render(profile="vap") if "glm-tts.io/security-rule" not in o["metadata"]["labels"]
    ]
    enforce = only(image_policy, "ValidatingAdmissionPolicyBinding")
    assert enforce["spec"]["validationActions"] == ["Deny"]
    vap = only(image_policy, "ValidatingAdmissionPolicy")
    assert vap["spec"]["failurePolicy"] == "Fail"
    assert vap["spec"]["matchConstraints"]["matchPolicy"] == "Equivalent"
    covered = {}
    for rule in vap["spec"]["matchConstraints"]["resourceRules"]:
        assert rule["operations"] == ["CREATE", "UPDATE"]
        for group in rule["apiGroups"]:
            covered.setdefault(group, set()).update(rule["resources"])
    assert covered == WORKLOAD_RESOURCES


# Kubernetes objects passed through verbatim (their own API validates them) and string maps.
PASSTHROUGH = {
    "commonLabels",
    "commonAnnotations",
    "webhook.resources",
    "webhook.podSecurityContext",
    "webhook.containerSecurityContext",
    "webhook.affinity",
    "webhook.nodeSelector",
    "webhook.podLabels",
    "webhook.podAnnotations",
    "webhook.service.annotations",
    "webhook.serviceAccount.annotations",
    "networkPolicy.metrics.namespaceSelector",
    "networkPolicy.metrics.podSelector",
    "securityPack.podSelector",
    "metrics.serviceMonitor.labels",
    "metrics.serviceMonitor.tlsConfig",
    "webhook.topologySpreadConstraints[]",
    "webhook.tolerations[]",
}


def test_values_schema_closes_every_chart_owned_object():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    open_objects = []

    def walk(node, path):
        closed = node.get("additionalProperties") is False
        if node.get("type") == "object" and path not in PASSTHROUGH and not closed:
            open_objects.append(path or "(root)")
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}.{key}" if path else key)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema, "")
    assert open_objects == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(schema["properties"]) == set(values)
