"""The webhook over real HTTPS: the case table, malformed requests, cert rotation, policy reload."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest
import yaml
from cryptography import x509
from glm_tts_hooks.image_policy.admission import AUDIT_ANNOTATION

from image_policy.cases import CASES, POLICIES, request_body

HTTP_CASES = [c for c in CASES if not c["needs_signatures"]]
ENDPOINTS = {"AdmissionReview": "/validate", "ImageReview": "/imagereview"}


@pytest.fixture(scope="module")
def webhooks(module_webhook):
    """One server per policy of the table, started on first use and shared by the module's tests
    that only read decisions (tests that change files start their own)."""
    servers = {}

    def client_for(policy_name: str) -> httpx.Client:
        if policy_name not in servers:
            servers[policy_name] = module_webhook(POLICIES[policy_name])[1]
        return servers[policy_name]

    return client_for


def post(client: httpx.Client, case: dict) -> httpx.Response:
    return client.post(
        ENDPOINTS[case["api"]], content=request_body(case), headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["id"] for c in HTTP_CASES])
def test_case_table_over_https(webhooks, case):
    response = post(webhooks(case["policy"]), case)
    assert response.status_code == case["http_status"], response.text
    if case["http_status"] != 200:
        assert response.json()["error"]  # a message that says what is wrong
        return
    review = response.json()
    if case["api"] == "AdmissionReview":
        answer = review["response"]
        assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
        assert answer["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
        assert answer["allowed"] is case["allowed"]
        if not case["allowed"]:
            message = answer["status"]["message"]
            assert answer["status"]["code"] == 403
            assert f"[rule {case['rule']}]" in message and "fix:" in message
            assert message.index(f"[rule {case['rule']}]") == message.index("[rule ")  # first rule reported
        elif case["rule"]:  # audit mode: admitted, but warned and recorded
            assert any(f"[rule {case['rule']}]" in w for w in answer["warnings"])
            assert case["rule"] in answer["auditAnnotations"][AUDIT_ANNOTATION]
        else:
            assert "status" not in answer and "warnings" not in answer
    else:
        status = review["status"]
        assert review["apiVersion"] == "imagepolicy.k8s.io/v1alpha1" and review["kind"] == "ImageReview"
        assert status["allowed"] is case["allowed"]
        if case["rule"]:
            assert f"[rule {case['rule']}]" in status["reason"]


def test_denial_names_container_image_rule_and_fix(webhooks):
    case = next(c for c in CASES if c["id"] == "init-container-denied")
    message = post(webhooks("enforce"), case).json()["response"]["status"]["message"]
    assert "init container 'initcontainer-0'" in message
    assert "registry.example.com/glm-tts/init:1.0" in message
    assert "[rule digest]" in message
    assert "pin by digest: registry.example.com/glm-tts/init:1.0@sha256:<digest>" in message


def test_delete_and_non_pod_kinds_are_admitted(webhooks):
    client = webhooks("enforce")
    case = next(c for c in CASES if c["id"] == "registry-not-allowed")
    review = yaml.safe_load(request_body(case))
    review["request"]["operation"] = "DELETE"
    review["request"]["object"] = None
    assert client.post("/validate", json=review).json()["response"]["allowed"] is True
    review = yaml.safe_load(request_body(case))
    review["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    answer = client.post("/validate", json=review).json()["response"]
    assert answer["allowed"] is True and "not checked" in answer["warnings"][0]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", "/nope", {}, 404),
        ("GET", "/nope", {}, 404),
        ("POST", "/validate", {"Content-Type": "text/plain"}, 415),
        ("POST", "/validate", {"Transfer-Encoding": "chunked"}, 400),  # chunked "{}": not a review
    ],
)
def test_bad_http_requests(webhooks, method, path, headers, status):
    client = webhooks("enforce")
    content = b"{}" if "Transfer-Encoding" not in headers else iter([b"{}"])
    response = client.request(method, path, content=content if method == "POST" else None, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]


def test_health_and_metrics(start_webhook):
    _, client = start_webhook(POLICIES["enforce"])  # its own server: the counts below are exact
    for case_id in ("allowed-registry-digest", "registry-not-allowed", "denied-tag-latest"):
        post(client, next(c for c in CASES if c["id"] == case_id))
    assert client.get("/healthz").text.startswith("ok")
    metrics = client.get("/metrics").text
    assert (
        'glm_tts_image_policy_decisions_total{api="AdmissionReview",rule="none",verdict="allowed"} 1.0'
        in metrics
    )
    assert (
        'glm_tts_image_policy_decisions_total{api="AdmissionReview",rule="registry",verdict="denied"} 1.0'
        in metrics
    )
    assert (
        'glm_tts_image_policy_decisions_total{api="AdmissionReview",rule="denied-tag",verdict="denied"} 1.0'
        in metrics
    )
    assert "glm_tts_image_policy_request_duration_seconds_bucket" in metrics


def test_plain_http_and_untrusted_clients_are_refused(start_webhook):
    server, client = start_webhook(POLICIES["enforce"])
    host, port = server.address
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{host}:{port}/healthz", timeout=3)
    with pytest.raises(httpx.ConnectError):  # a client that does not trust our CA
        httpx.get(f"https://{host}:{port}/healthz", verify=ssl.create_default_context(), timeout=3)
    assert client.get("/healthz").status_code == 200  # the server survived both


def _served_serial(address: tuple[str, int], ca_context: ssl.SSLContext) -> int:
    """Serial number of the certificate the server presents on a new connection."""
    with (
        socket.create_connection(address, timeout=5) as raw,
        ca_context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def test_certificate_rotation_is_served_without_restart(start_webhook, tls_files, test_ca, ca_context):
    server, client = start_webhook(POLICIES["enforce"])
    first = _served_serial(server.address, ca_context)
    cert, key = tls_files
    # cert-manager writes a new pair; write beside and rename, as the kubelet's atomic writer does.
    test_ca.issue(cert.with_name("tls.crt.new"), key.with_name("tls.key.new"))
    os.replace(key.with_name("tls.key.new"), key)
    os.replace(cert.with_name("tls.crt.new"), cert)
    second = _served_serial(server.address, ca_context)
    assert second != first
    assert client.get("/healthz").status_code == 200
    assert 'glm_tts_image_policy_certificate_reloads_total{result="ok"} 1.0' in client.get("/metrics").text


def test_broken_certificate_keeps_serving_the_previous_one(start_webhook, tls_files, ca_context):
    server, client = start_webhook(POLICIES["enforce"])
    first = _served_serial(server.address, ca_context)
    tls_files[0].write_text("not a certificate")
    assert _served_serial(server.address, ca_context) == first
    assert 'glm_tts_image_policy_certificate_reloads_total{result="error"} 1.0' in client.get("/metrics").text


def test_policy_reload_changes_decisions_and_bad_policy_keeps_last_good(start_webhook, tmp_path):
    server, client = start_webhook(POLICIES["enforce"])
    case = next(c for c in CASES if c["id"] == "registry-not-allowed")
    assert post(client, case).json()["response"]["allowed"] is False

    policy_file = server.policies.path
    with open(policy_file, "w") as fh:
        yaml.safe_dump(POLICIES["audit"], fh)
    os.utime(policy_file, ns=(1, time.time_ns() + 10**9))
    assert post(client, case).json()["response"]["allowed"] is True  # audit now

    with open(policy_file, "w") as fh:
        fh.write("mode: enforce\nallowedRegistries: not-a-list\n")
    os.utime(policy_file, ns=(1, time.time_ns() + 2 * 10**9))
    assert post(client, case).json()["response"]["allowed"] is True  # still the last good (audit) policy
    assert "reload failed" in client.get("/healthz").text
    metrics = client.get("/metrics").text
    assert 'glm_tts_image_policy_policy_reloads_total{result="ok"} 1.0' in metrics
    assert 'glm_tts_image_policy_policy_reloads_total{result="error"} 1.0' in metrics


# The image-policy subcommand on its own, parsed as `glm-tts-hooks image-policy ...` parses it.
CLI_CODE = (
    "import argparse, sys; from glm_tts_hooks.image_policy import command;"
    "p = argparse.ArgumentParser(); command.register(p.add_subparsers());"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
)


def serve_argv(cert, key, policy, port: int = 0) -> list[str]:
    return [
        sys.executable,
        "-c",
        CLI_CODE,
        "image-policy",
        "serve",
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--policy",
        str(policy),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def test_cli_exits_2_naming_an_invalid_policy(tmp_path, tls_files):
    policy = tmp_path / "bad.yaml"
    policy.write_text("allowedRegistries: [myorg/]\n")
    result = subprocess.run(serve_argv(*tls_files, policy), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "allowedRegistries[0]" in result.stderr and "registry host" in result.stderr


def test_cli_exits_2_naming_a_missing_certificate(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("allowedRegistries: [a.io]\n")
    argv = serve_argv(tmp_path / "nope.crt", tmp_path / "nope.key", policy)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "nope.crt" in result.stderr


def test_cli_serves_and_stops_on_sigterm(tmp_path, tls_files, ca_context):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICIES["enforce"]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(serve_argv(*tls_files, policy, port), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ca_context, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {proc.communicate()[1]}")
                time.sleep(0.1)
        assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to exhaust a recursive parser
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '
        b'{"uid": "u", "operation": "CREATE", "namespace": ["x"], "kind": {"kind": "Pod"}, '
        b'"object": {"spec": {"containers": []}}}}',
        b"\xff\xfe not utf-8",
    ],
    ids=["deep-nesting", "namespace-not-a-string", "not-utf8"],
)
def test_hostile_bodies_get_400(webhooks, body):
    client = webhooks("enforce")
    response = client.post("/validate", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]
    assert client.get("/healthz").status_code == 200


def test_connection_limit_refuses_excess_connections(start_webhook, ca_context, monkeypatch):
    """A connection flood is bounded: past MAX_CONNECTIONS new requests get 503 (the API server
    applies the failure policy), the connections already held keep working, and capacity returns."""
    import glm_tts_hooks.image_policy.server as server_module

    # uvicorn counts the asking connection itself: a limit of 2 serves one connection at a time.
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 2)
    server, held = start_webhook(POLICIES["enforce"])
    assert held.get("/healthz").status_code == 200  # held keeps its keep-alive connection open
    host, port = server.address
    with httpx.Client(base_url=f"https://{host}:{port}", verify=ca_context, timeout=5) as extra:
        assert extra.get("/healthz").status_code == 503
        # uvicorn drops the refused connection asynchronously; until then it still counts.
        assert _eventually_ok(held), "the connection already held must keep working"
        held.close()  # frees the slot
        assert _eventually_ok(extra), "capacity must return once the held connection is gone"


def _eventually_ok(client: httpx.Client, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while client.get("/healthz").status_code != 200:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
