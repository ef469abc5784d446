"""The control plane behaves as a production cluster where our artefacts meet it: the release it
reports, authentication and RBAC, Pod Security admission, CEL admission policies, webhooks reached
through a Service name with TLS, and GPU scheduling by the real scheduler."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import tomllib
from harness.cluster_pki import ClusterPKI
from harness.control_plane import ControlPlane
from harness.paths import REPO

from .helpers import pods, wait_for


def _pinned_kubernetes_version() -> str:
    pins = tomllib.loads((REPO / "tools" / "go-tools.toml").read_text())
    return pins["tools"]["kube-apiserver"]["version"]


def test_version_endpoint_reports_the_pinned_release(control_plane: ControlPlane) -> None:
    version = control_plane.version
    assert version["gitVersion"] == _pinned_kubernetes_version()
    assert (version["major"], version["minor"]) == tuple(version["gitVersion"].lstrip("v").split(".")[:2])
    server = json.loads(control_plane.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert server["gitVersion"] == version["gitVersion"]


def test_a_service_account_without_bindings_is_forbidden(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "nobody")
    who = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:nobody"
    denied = control_plane.kubectl("get", "nodes", kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr or "forbidden" in denied.stderr


def test_restricted_pod_security_is_enforced(control_plane: ControlPlane, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    result = control_plane.kubectl("create", "-f", "-", input=json.dumps(pod), check=False)
    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr


def test_gpu_pods_land_on_gpu_nodes_and_overflow_stays_pending(
    control_plane: ControlPlane, namespace: str
) -> None:
    def gpu_pod(name: str, gpus: int) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "c",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}},
                    }
                ],
            },
        }  # fmt: skip

    control_plane.apply([gpu_pod("fits", 8), gpu_pod("too-big", 9)])
    placed = wait_for(
        lambda: next((p for p in pods(control_plane, namespace) if p["metadata"]["name"] == "fits"
                      and p["status"].get("phase") == "Running"), None),
        "the 8-GPU pod to run",
    )  # fmt: skip
    node = control_plane.get("node", placed["spec"]["nodeName"])
    assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"

    def unschedulable_reason() -> str:
        pod = control_plane.get("pod", "too-big", "-n", namespace)
        cond = next((c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"), {})
        return cond.get("message", "") if cond.get("reason") == "Unschedulable" else ""

    assert "Insufficient nvidia.com/gpu" in wait_for(
        unschedulable_reason, "the 9-GPU pod to be unschedulable"
    )


def test_validating_admission_policy_is_compiled_and_enforced(
    control_plane: ControlPlane, namespace: str
) -> None:
    name = f"deny-latest-{namespace}"
    control_plane.apply(
        [
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                           "operations": ["CREATE"], "resources": ["configmaps"]}]
                    },
                    "validations": [{"expression": "!has(object.data) || !('latest' in object.data)",
                                     "message": "no latest key"}],
                },
            },
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {"namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": namespace}}},
                },
            },
        ]
    )  # fmt: skip
    try:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": namespace},
              "data": {"latest": "1"}}  # fmt: skip

        def denied() -> str:
            result = control_plane.kubectl("create", "-f", "-", input=json.dumps(cm), check=False)
            if result.returncode == 0:  # the policy is not active yet: remove and retry
                control_plane.kubectl("delete", "configmap", "x", "-n", namespace)
                return ""
            return result.stderr

        assert "no latest key" in wait_for(denied, "the policy to deny", timeout=30)
    finally:
        control_plane.kubectl("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found")
        control_plane.kubectl("delete", "validatingadmissionpolicy", name, "--ignore-not-found")


class _DenyLabelled(BaseHTTPRequestHandler):
    """A minimal validating webhook: deny objects labelled deny=yes."""

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        labels = review["request"]["object"]["metadata"].get("labels") or {}
        allowed = labels.get("deny") != "yes"
        body = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": review["request"]["uid"], "allowed": allowed,
                             "status": {"message": "labelled deny=yes"}},
            }
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_are_called_through_their_service_with_tls(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """The path the image-policy webhook takes: Service name, caBundle, TLS verified by the API server."""
    pki = ClusterPKI(tmp_path / "pki")
    cert = pki.issue("hook", "deny-hook", dns_names=(f"deny-hook.{namespace}.svc",), server=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DenyLabelled)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    control_plane.apply(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "deny-hook", "namespace": namespace},
         "spec": {"ports": [{"port": 443, "targetPort": 8443}]}}
    )  # fmt: skip
    control_plane.route_service(namespace, "deny-hook", 443, ("127.0.0.1", server.server_address[1]))
    name = f"deny-hook-{namespace}"
    control_plane.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": "deny.glm-tts.test",
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "timeoutSeconds": 5,
                    "clientConfig": {
                        "service": {"name": "deny-hook", "namespace": namespace, "port": 443, "path": "/"},
                        "caBundle": base64.b64encode(pki.ca.cert_pem).decode(),
                    },
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                               "resources": ["configmaps"]}],
                }
            ],
        }
    )  # fmt: skip
    try:

        def create(cm_name: str, labels: dict[str, str]) -> tuple[int, str]:
            cm = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": cm_name, "namespace": namespace, "labels": labels}}  # fmt: skip
            result = control_plane.kubectl("create", "-f", "-", input=json.dumps(cm), check=False)
            return result.returncode, result.stderr

        def denied_by_webhook() -> str:
            code, err = create("bad", {"deny": "yes"})
            if code == 0:  # the configuration is not in the API server's cache yet
                control_plane.kubectl("delete", "configmap", "bad", "-n", namespace)
                return ""
            return err

        assert "labelled deny=yes" in wait_for(denied_by_webhook, "the webhook to deny", timeout=30)
        assert create("good", {})[0] == 0
        # with the route gone the API server cannot reach the Service: failurePolicy Fail denies
        control_plane.unroute_service(namespace, "deny-hook", 443)
        code, err = create("unreachable", {})
        assert code != 0 and "failed calling webhook" in err
    finally:
        control_plane.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found")
        server.shutdown()
