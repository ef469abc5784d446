"""The rendered Deployment starts the real webhook server, and the API server's calls reach it.

The pod is reproduced on loopback: the rendered volumes are written to a temporary root (the policy
ConfigMap's data, a TLS Secret for the Service's DNS names, the dockerconfigjson Secret), the rendered
args are parsed by the webhook's own CLI parser with mount paths mapped under that root, and the server
is started. Then the readiness probe and the ValidatingWebhookConfiguration's clientConfig are used as
the kubelet and the API server would use them.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from glm_tts_hooks.image_policy import command
from glm_tts_hooks.image_policy.server import ImagePolicyServer, ServerConfig
from harness.helm import find

from image_policy.cases import CASES, POLICIES, admission_review

from .renders import NAMESPACE, render

VALUES = {
    "policy": POLICIES["enforce"] | {"signatures": {"required": False, "publicKeys": []}},
    "webhook": {"registryAuth": {"existingSecret": "glm-tts-registry"}},
}
WIRING_CASES = [
    c
    for c in CASES
    if c["api"] == "AdmissionReview"
    and c["policy"] == "enforce"
    and not c["needs_signatures"]
    and not c.get("body")
]


def serving_certificate(dns_names: list[str]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def objects():
    return render(VALUES)


@pytest.fixture(scope="module")
def pod(objects, tmp_path_factory):
    """The webhook pod's files under a temporary root, and its container."""
    root = tmp_path_factory.mktemp("pod")
    (deployment,) = find(objects, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    (configmap,) = find(objects, "ConfigMap")
    service = find(objects, "Service")[0]["metadata"]["name"]
    cert_pem, key_pem = serving_certificate([f"{service}.{NAMESPACE}.svc", service])
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {}
    for mount in container["volumeMounts"]:
        directory = root / mount["mountPath"].lstrip("/")
        directory.mkdir(parents=True)
        mounts[mount["mountPath"]] = directory
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            assert volume["configMap"]["name"] == configmap["metadata"]["name"]
            for key, text in configmap["data"].items():
                (directory / key).write_text(text)
        elif volume.get("secret", {}).get("secretName") == "glm-tts-registry":
            (item,) = volume["secret"]["items"]
            (directory / item["path"]).write_text(json.dumps({"auths": {}}))
        elif "secret" in volume:  # the kubernetes.io/tls Secret cert-manager writes
            (directory / "tls.crt").write_bytes(cert_pem)
            (directory / "tls.key").write_bytes(key_pem)
            (directory / "ca.crt").write_bytes(cert_pem)
    return {"root": root, "mounts": mounts, "container": container, "ca": cert_pem}


def parse_container_args(container: dict, mounts: dict[str, Path]) -> argparse.Namespace:
    """The rendered command line, parsed by the webhook's own parser, paths mapped to the pod root."""
    parser = argparse.ArgumentParser(prog=container["command"][0])
    command.register(parser.add_subparsers(dest="command", required=True))
    args = []
    for arg in container["args"]:
        flag, _, value = arg.partition("=")
        owner = [m for m in mounts if value.startswith(m + "/")]
        if owner:  # the deepest mount that holds the path, as the kubelet resolves it
            mount_path = max(owner, key=len)
            arg = f"{flag}={mounts[mount_path]}{value[len(mount_path) :]}"
        args.append(arg)
    return parser.parse_args(args)


@pytest.fixture(scope="module")
def server(pod):
    args = parse_container_args(pod["container"], pod["mounts"])
    assert (args.command, args.image_policy_command, args.func) == (
        "image-policy",
        "serve",
        command.run_serve,
    )
    rendered_port = args.port
    assert rendered_port == pod["container"]["ports"][0]["containerPort"]
    for path in (args.cert, args.key, args.policy, args.registry_auth):
        assert Path(path).is_file(), f"{path}: the rendered flag points outside the mounted volumes"
    # Loopback and an ephemeral port: this machine is not the pod network.
    config = ServerConfig(
        cert_file=args.cert,
        key_file=args.key,
        policy_file=args.policy,
        host="127.0.0.1",
        port=0,
        registry_auth_file=args.registry_auth,
    )
    with ImagePolicyServer(config) as running:
        yield running


@pytest.fixture(scope="module")
def client(pod, server):
    context = ssl.create_default_context(cadata=pod["ca"].decode())
    host, port = server.address
    with httpx.Client(base_url=f"https://{host}:{port}", verify=context, timeout=10) as http:
        yield http


def test_readiness_probe_answers_over_https(pod, client):
    probe = pod["container"]["readinessProbe"]["httpGet"]
    assert probe["scheme"] == "HTTPS"
    assert client.get(probe["path"]).status_code == 200
    liveness = pod["container"]["livenessProbe"]["httpGet"]
    assert client.get(liveness["path"]).status_code == 200


def test_metrics_are_served_where_the_service_monitor_would_scrape(client):
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("case", WIRING_CASES, ids=[c["id"] for c in WIRING_CASES])
def test_webhook_configuration_path_reaches_the_decision(case, objects, client):
    (vwc,) = find(objects, "ValidatingWebhookConfiguration")
    path = vwc["webhooks"][0]["clientConfig"]["service"]["path"]
    response = client.post(path, json=admission_review(case))
    assert response.status_code == 200
    answer = response.json()["response"]
    assert answer["allowed"] is case["allowed"], answer
    if not case["allowed"]:
        assert f"rule {case['rule']}" in answer["status"]["message"]
