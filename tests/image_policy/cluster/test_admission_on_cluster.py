"""Admission for real: the kube-apiserver calls the image-policy server, and enforces the CEL policy.

The chart is rendered as a user installs it (webhook engine with a provided TLS Secret and caBundle,
or the ValidatingAdmissionPolicy engine); its ValidatingWebhookConfiguration, Service and CEL
objects are applied to the real API server (tests/harness/control_plane.py). The webhook itself
runs on loopback, reached through the rendered Service (`route_service`), so TLS, caBundle,
the admission deadline and failurePolicy are the rendered ones. Every CREATE case of the shared
table (Pod, Deployment, StatefulSet, Job, CronJob, ...) is sent as a server-side dry run (the
webhook declares sideEffects None), and each engine must give the table's verdict.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from glm_tts_hooks.image_policy.server import ImagePolicyServer, ServerConfig
from harness.cluster_pki import ClusterPKI
from harness.control_plane import ControlPlane
from harness.helm import find, render_chart
from harness.paths import CHARTS

from image_policy.cases import CASES, OPT_IN_LABEL, POLICIES, workload_object

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CHART = CHARTS / "glm-tts-image-policy"
RELEASE = "image-policy"
TABLE_CASES = [
    c
    for c in CASES
    if c["api"] == "AdmissionReview"
    and not (c["needs_signatures"] or c.get("body"))
    and (c["policy"], c["namespace"]) == ("enforce", "glm-tts")
]


def _render(engine_values: dict, namespace: str) -> list[dict]:
    values = {"policy": POLICIES["enforce"], **engine_values}
    return render_chart(CHART, values, helm=4, kube_version="1.37.0", release=RELEASE, namespace=namespace)


def _app_namespace(control_plane: ControlPlane) -> str:
    """A namespace that opted in, with Pod Security only warning (the table's pods are minimal)."""
    name = f"glm-tts-{uuid.uuid4().hex[:6]}"
    control_plane.create_namespace(name, pod_security="privileged")
    control_plane.kubectl("label", "namespace", name, f"{OPT_IN_LABEL}=enforce")
    return name


def _dry_run(control_plane: ControlPlane, obj: dict, verb: str = "create") -> tuple[bool, str]:
    result = control_plane.kubectl(verb, "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False)
    return result.returncode == 0, result.stderr


def _object(case: dict, namespace: str) -> dict:
    obj = workload_object(case["kind"], case["images"], namespace, name=f"c-{uuid.uuid4().hex[:8]}")
    # Pods the API server accepts: a restartPolicy Jobs require, and an image on every container.
    spec = obj["spec"]
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", spec)
    if case["kind"] in ("Job", "CronJob"):
        template["restartPolicy"] = "Never"
    return obj


@pytest.fixture(scope="module")
def webhook_engine(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory):
    system = f"image-policy-{uuid.uuid4().hex[:6]}"
    control_plane.create_namespace(system)
    pki = ClusterPKI(tmp_path_factory.mktemp("image-policy-pki"))
    objects = _render(
        {
            "engine": "webhook",
            "tls": {
                "certManager": {"enabled": False},
                "existingSecret": "image-policy-tls",
                "caBundle": base64.b64encode(pki.ca.cert_pem).decode(),
            },
        },
        system,
    )
    (service,) = find(objects, "Service")
    (vwc,) = find(objects, "ValidatingWebhookConfiguration")
    (config_map,) = find(objects, "ConfigMap")
    name = service["metadata"]["name"]
    cert = pki.issue("image-policy", name, dns_names=(f"{name}.{system}.svc",), server=True)
    workdir = tmp_path_factory.mktemp("image-policy-server")
    policy = workdir / "policy.yaml"
    policy.write_text(config_map["data"]["policy.yaml"])
    config = ServerConfig(
        cert_file=str(cert.cert), key_file=str(cert.key), policy_file=str(policy), host="127.0.0.1", port=0
    )
    server = ImagePolicyServer(config)
    server.start()
    control_plane.apply(service)
    control_plane.route_service(system, name, service["spec"]["ports"][0]["port"], server.address)
    control_plane.apply(vwc)
    try:
        engine = {"server": server, "config": config, "system": system, "service": service, "vwc": vwc}
        yield engine
    finally:
        control_plane.kubectl(
            "delete", "validatingwebhookconfiguration", vwc["metadata"]["name"], "--ignore-not-found"
        )
        engine["server"].stop()
        control_plane.delete_namespace(system, wait=False)


@pytest.fixture(scope="module")
def vap_engine(control_plane: ControlPlane):
    objects = _render({"engine": "validatingAdmissionPolicy"}, "default")
    policies = find(objects, "ValidatingAdmissionPolicy") + find(objects, "ValidatingAdmissionPolicyBinding")
    for obj in policies:
        control_plane.apply(obj)
    try:
        yield policies
    finally:
        for obj in policies:
            control_plane.kubectl(
                "delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found"
            )


def _denial_active(control_plane: ControlPlane, namespace: str, timeout: float = 60) -> None:
    """Admission configuration reaches the API server's cache asynchronously: wait for a known denial."""
    probe = next(c for c in TABLE_CASES if c["id"] == "registry-not-allowed")
    deadline = time.monotonic() + timeout
    while _dry_run(control_plane, _object(probe, namespace))[0]:
        if time.monotonic() > deadline:
            raise AssertionError("the admission configuration never took effect")
        time.sleep(0.5)


def _refused_before_admission(case: dict) -> bool:
    """A container without an image never reaches admission: the API server's own validation
    refuses it ("Required value"). Still denied, as the table says, but not by our rule."""
    return any(image in ("", None) for images in case["images"].values() for image in images)


def _check_case(control_plane: ControlPlane, case: dict, namespace: str) -> None:
    allowed, err = _dry_run(control_plane, _object(case, namespace))
    assert allowed is case["allowed"], f"{case['id']}: {err}"
    if _refused_before_admission(case):
        assert "Required value" in err, err
    elif not case["allowed"]:
        assert f"[rule {case['rule']}]" in err, err


# Ephemeral containers cannot be set on CREATE (the API server refuses them): they only arrive
# through the pods/ephemeralcontainers subresource, which the webhook tests cover over HTTP.
CREATE_CASES = [
    c
    for c in TABLE_CASES
    if c.get("operation", "CREATE") == "CREATE" and not c["images"].get("ephemeralContainers")
]


@pytest.mark.parametrize("case", CREATE_CASES, ids=[c["id"] for c in CREATE_CASES])
def test_webhook_called_by_the_api_server_gives_the_table_verdict(control_plane, webhook_engine, case):
    namespace = _app_namespace(control_plane)
    try:
        _denial_active(control_plane, namespace)
        _check_case(control_plane, case, namespace)
    finally:
        control_plane.delete_namespace(namespace, wait=False)


@pytest.mark.parametrize("case", CREATE_CASES, ids=[c["id"] for c in CREATE_CASES])
def test_cel_policy_enforced_by_the_api_server_gives_the_table_verdict(control_plane, vap_engine, case):
    namespace = _app_namespace(control_plane)
    try:
        _denial_active(control_plane, namespace)
        _check_case(control_plane, case, namespace)
    finally:
        control_plane.delete_namespace(namespace, wait=False)


def test_namespaces_that_did_not_opt_in_are_not_judged(control_plane, webhook_engine):
    name = f"other-{uuid.uuid4().hex[:6]}"
    control_plane.create_namespace(name, pod_security="privileged")
    try:
        probe = next(c for c in TABLE_CASES if c["id"] == "registry-not-allowed")
        assert _dry_run(control_plane, _object(probe, name))[0]
    finally:
        control_plane.delete_namespace(name, wait=False)


def test_unreachable_webhook_fails_closed(control_plane, webhook_engine):
    namespace = _app_namespace(control_plane)
    system, service = webhook_engine["system"], webhook_engine["service"]
    name, port = service["metadata"]["name"], service["spec"]["ports"][0]["port"]
    try:
        _denial_active(control_plane, namespace)
        # Gone: no route, and the server down (its kept-alive connections closed with it).
        control_plane.unroute_service(system, name, port)
        webhook_engine["server"].stop()
        ok = next(c for c in TABLE_CASES if c["id"] == "allowed-registry-digest")
        allowed, err = _dry_run(control_plane, _object(ok, namespace))
        assert not allowed and "failed calling webhook" in err, err  # failurePolicy: Fail, as rendered
    finally:
        webhook_engine["server"] = ImagePolicyServer(webhook_engine["config"])
        webhook_engine["server"].start()
        control_plane.route_service(system, name, port, webhook_engine["server"].address)
        control_plane.delete_namespace(namespace, wait=False)
