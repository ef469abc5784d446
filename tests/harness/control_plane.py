"""A real Kubernetes control plane for the tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (nodes and pod lifecycle without a kubelet), started once per test run.

    def test_install(control_plane):                      # session-scoped, started on first use
        control_plane.kubectl("get", "nodes")             # as cluster admin (system:masters)
        kubeconfig = control_plane.service_account_kubeconfig("glm-tts", "glm-tts-preflight")
        client = control_plane.api_client()               # kubernetes.client.ApiClient, admin
        control_plane.route_service("ns", "svc", 443, ("127.0.0.1", port))  # for admission webhooks

What a cluster has, a test here has: every component on 127.0.0.1 with TLS from one test CA, client
certificates and service-account tokens checked by the API server, the Node and RBAC authorizers,
the admission chain of a kubeadm cluster (incl. PodSecurity, ValidatingAdmissionPolicy and
webhooks), the real scheduler placing pods and the real controllers running Deployments and Jobs.
kwok plays the kubelets: GPU nodes with the NVIDIA device plugin's `nvidia.com/gpu` capacity, GPU
Feature Discovery labels and the GPU taint, a MIG node and CPU-only nodes; bound pods start, Job and
hook pods succeed. Persistent volumes are static NFS volumes bound by the real PV controller.

The third-party CRDs from ../shared/crds are installed when that folder is beside the checkout
(`crds_installed` says whether; tests needing them skip with the reason). Logs of every component
stay in the pytest temp folder; a failing test that used the control plane gets their tails in its
report. The binaries come from `make tools` (.tools/bin); without them the tests skip locally and
fail under CI=true.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cluster_pki import ClusterPKI, KeyPair
from .egress_router import EgressRouter
from .paths import SHARED, TOOLS_BIN
from .tools import require_tool

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SERVICE_CIDR = "10.96.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# The admission chain a kubeadm cluster runs (the API server's defaults plus NodeRestriction), so a
# chart meets PodSecurity, quotas, ValidatingAdmissionPolicy and webhooks as it will in production.
ADMISSION_PLUGINS = ",".join(
    [
        "NamespaceLifecycle",
        "LimitRanger",
        "ServiceAccount",
        "NodeRestriction",
        "PodSecurity",
        "Priority",
        "DefaultTolerationSeconds",
        "DefaultStorageClass",
        "StorageObjectInUseProtection",
        "RuntimeClass",
        "DefaultIngressClass",
        "MutatingAdmissionWebhook",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionWebhook",
        "ResourceQuota",
    ]
)
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
STORAGE_CLASS = "standard"
STATIC_VOLUMES = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class ControlPlane:
    workdir: Path
    server: str = ""
    ca_file: Path = Path()
    admin_kubeconfig: Path = Path()
    startup_seconds: float = 0.0
    version: dict[str, Any] = field(default_factory=dict)
    crds_installed: bool = False
    crds_skip_reason: str = ""
    router: EgressRouter | None = None
    _processes: list[_Process] = field(default_factory=list)
    _pki: ClusterPKI | None = None

    # ---------------------------------------------------------------- clients
    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (admin unless `kubeconfig` is given)."""
        cmd = [str(TOOLS_BIN / "kubectl"), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[1:])} failed ({result.returncode}):\n{result.stderr}")
        return result

    def apply(self, manifest: str | list[dict[str, Any]] | dict[str, Any], **kwargs: Any) -> str:
        """Server-side apply YAML text or objects as admin; returns kubectl's output."""
        if not isinstance(manifest, str):
            docs = manifest if isinstance(manifest, list) else [manifest]
            manifest = yaml.safe_dump_all(docs)
        return self.kubectl(
            "apply", "--server-side", "--force-conflicts", "--field-manager=tests", "-f", "-",
            input=manifest, **kwargs,
        ).stdout  # fmt: skip

    def get(self, *args: str, kubeconfig: Path | None = None) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json", kubeconfig=kubeconfig).stdout)

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(kubeconfig or self.admin_kubeconfig))

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """Environment for a subprocess (helm, glm-tts-hooks) talking to this cluster."""
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or self.admin_kubeconfig)}
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
        env.pop("KUBERNETES_SERVICE_HOST", None)  # never fall back to an in-cluster config
        return env

    def service_account_token(
        self, namespace: str, name: str, *, seconds: int = 3600, audience: str = ISSUER
    ) -> str:
        """A bound token for the ServiceAccount, issued by the API server (TokenRequest)."""
        out = self.kubectl(
            "create", "token", name, "-n", namespace, f"--duration={seconds}s", f"--audience={audience}"
        )
        return out.stdout.strip()

    def service_account_kubeconfig(self, namespace: str, name: str, *, seconds: int = 3600) -> Path:
        """A kubeconfig that authenticates as system:serviceaccount:<namespace>:<name>."""
        path = self.workdir / "kubeconfigs" / f"sa-{namespace}-{name}.yaml"
        self._write_kubeconfig(
            path,
            f"{namespace}-{name}",
            {"token": self.service_account_token(namespace, name, seconds=seconds)},
            namespace=namespace,
        )
        return path

    def route_service(self, namespace: str, service: str, port: int, target: tuple[str, int]) -> None:
        """Make the API server's calls to the Service (as a webhook's clientConfig.service names it)
        reach `target`, e.g. a webhook process on 127.0.0.1. The Service must exist: the API server
        dials its ClusterIP on the Service port, and checks TLS against <service>.<namespace>.svc."""
        assert self.router is not None
        self.router.route(self._service_hosts(namespace, service), port, target)

    def unroute_service(self, namespace: str, service: str, port: int) -> None:
        assert self.router is not None
        self.router.unroute(self._service_hosts(namespace, service), port)

    def _service_hosts(self, namespace: str, service: str) -> list[str]:
        cluster_ip = self.get("service", service, "-n", namespace)["spec"].get("clusterIP")
        names = [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]
        return names + ([cluster_ip] if cluster_ip and cluster_ip != "None" else [])

    def create_namespace(self, name: str, *, pod_security: str = "restricted") -> str:
        """A namespace that enforces the given Pod Security level (restricted by default)."""
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": pod_security,
                        "pod-security.kubernetes.io/warn": pod_security,
                    },
                },
            }
        )
        return name

    def delete_namespace(self, name: str, *, wait: bool = True) -> None:
        self.kubectl("delete", "namespace", name, "--ignore-not-found", f"--wait={str(wait).lower()}",
                     "--timeout=120s", timeout=150)  # fmt: skip

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for proc in self._processes:
            text = proc.log.read_text(errors="replace").splitlines() if proc.log.exists() else []
            parts.append(f"----- {proc.name} ({proc.log}) last {lines} lines -----")
            parts.extend(text[-lines:])
        if self.router is not None and self.router.log:
            parts.append("----- egress router -----")
            parts.extend(self.router.log[-lines:])
        return "\n".join(parts)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        began = time.monotonic()
        binaries = {name: require_tool(name) for name in COMPONENTS}
        require_tool("kubectl")
        pki = self._pki = ClusterPKI(self.workdir / "pki")
        self.ca_file = pki.ca.cert
        self.router = EgressRouter(self.workdir / "egress.sock")

        etcd_port, etcd_peer, api_port = _free_port(), _free_port(), _free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        etcd_server = pki.issue("etcd", "etcd", dns_names=("localhost",), ip_addresses=("127.0.0.1",),
                                server=True, client=True)  # fmt: skip
        etcd_client = pki.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True)
        self._spawn(
            "etcd",
            [
                str(binaries["etcd"]),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=https://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=https://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                f"--cert-file={etcd_server.cert}",
                f"--key-file={etcd_server.key}",
                f"--trusted-ca-file={pki.ca.cert}",
                "--client-cert-auth",
                "--unsafe-no-fsync",  # a throw-away test store; fsync would only slow the suite
                "--log-level=warn",
            ],
        )
        self._wait_https(f"https://127.0.0.1:{etcd_port}/health", etcd_client, "etcd", 60)

        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"),
            ip_addresses=("127.0.0.1", "10.96.0.1"),
            server=True,
        )  # fmt: skip
        sa_key = pki.signing_key("sa")
        egress = self.workdir / "egress-selector.yaml"
        egress.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "apiserver.k8s.io/v1beta1",
                    "kind": "EgressSelectorConfiguration",
                    "egressSelections": [
                        {
                            "name": "cluster",
                            "connection": {
                                "proxyProtocol": "HTTPConnect",
                                "transport": {"uds": {"udsName": str(self.router.socket_path)}},
                            },
                        }
                    ],
                }
            )
        )
        self._spawn(
            "kube-apiserver",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers=https://127.0.0.1:{etcd_port}",
                f"--etcd-cafile={pki.ca.cert}",
                f"--etcd-certfile={etcd_client.cert}",
                f"--etcd-keyfile={etcd_client.key}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # the `kubernetes` Service's endpoints may not be loopback; nothing in-cluster calls it
                "--endpoint-reconciler-type=none",
                f"--secure-port={api_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=Node,RBAC",
                f"--enable-admission-plugins={ADMISSION_PLUGINS}",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={sa_key.cert}",
                f"--service-account-signing-key-file={sa_key.key}",
                f"--api-audiences={ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--egress-selector-config-file={egress}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
        )
        admin = pki.issue("admin", "kubernetes-admin", organizations=("system:masters",), client=True)
        self.admin_kubeconfig = self.workdir / "kubeconfigs" / "admin.yaml"
        self._write_kubeconfig(self.admin_kubeconfig, "admin", self._cert_user(admin))
        self._wait_https(f"{self.server}/readyz", admin, "kube-apiserver", 120)
        self.version = json.loads(self._https_get(f"{self.server}/version", admin))

        kcm = pki.issue("kube-controller-manager", "system:kube-controller-manager", client=True)
        kcm_config = self.workdir / "kubeconfigs" / "kube-controller-manager.yaml"
        self._write_kubeconfig(kcm_config, "kube-controller-manager", self._cert_user(kcm))
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                f"--kubeconfig={kcm_config}",
                "--secure-port=0",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa_key.key}",
                f"--root-ca-file={pki.ca.cert}",
                f"--cluster-signing-cert-file={pki.ca.cert}",
                f"--cluster-signing-key-file={pki.ca.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--cluster-name=glm-tts-test",
                "--controllers=*,bootstrapsigner,tokencleaner",
                "--v=1",
            ],
        )
        scheduler = pki.issue("kube-scheduler", "system:kube-scheduler", client=True)
        scheduler_config = self.workdir / "kubeconfigs" / "kube-scheduler.yaml"
        self._write_kubeconfig(scheduler_config, "kube-scheduler", self._cert_user(scheduler))
        self._spawn(
            "kube-scheduler",
            [
                str(binaries["kube-scheduler"]),
                f"--kubeconfig={scheduler_config}",
                "--secure-port=0",
                "--leader-elect=false",
                "--v=1",
            ],
        )
        # kwok stands in for every kubelet at once, so it cannot be one system:node:<name>; it gets
        # admin rights instead (the Node authorizer is still exercised by nothing but kubelets).
        kwok = pki.issue("kwok", "kwok-controller", organizations=("system:masters",), client=True)
        kwok_config = self.workdir / "kubeconfigs" / "kwok.yaml"
        self._write_kubeconfig(kwok_config, "kwok", self._cert_user(kwok))
        self._spawn(
            "kwok",
            [
                str(binaries["kwok"]),
                f"--kubeconfig={kwok_config}",
                f"--config={FIXTURES / 'kwok-stages.yaml'}",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.0.0.1",
            ],
        )
        self._add_nodes_and_storage()
        self._wait_for_default_service_account()
        self._probe_pod_lifecycle()
        self._install_crds()
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        for proc in reversed(self._processes):
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self._processes):
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=10)
        if self.router is not None:
            self.router.close()

    def check_alive(self) -> None:
        dead = [
            f"{p.name} (exit {p.popen.returncode})" for p in self._processes if p.popen.poll() is not None
        ]
        if dead:
            raise AssertionError(f"control plane component(s) died: {', '.join(dead)}\n{self.log_tails()}")

    # ---------------------------------------------------------------- internals
    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True,
            )  # fmt: skip
        self._processes.append(_Process(name, popen, log))

    def _ssl_context(self, client: KeyPair) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(client.cert), str(client.key))
        return context

    def _https_get(self, url: str, client: KeyPair) -> str:
        with urllib.request.urlopen(url, context=self._ssl_context(client), timeout=5) as response:
            return response.read().decode()

    def _wait_https(self, url: str, client: KeyPair, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                self._https_get(url, client)
                return
            except OSError as exc:  # connection refused, TLS not up yet, 500 while hooks run
                last = str(exc)
            time.sleep(0.5)
        raise AssertionError(f"{what} not ready after {timeout:.0f}s ({last})\n{self.log_tails()}")

    def _cert_user(self, pair: KeyPair) -> dict[str, str]:
        return {"client-certificate-data": _b64(pair.cert_pem), "client-key-data": _b64(pair.key_pem)}

    def _write_kubeconfig(
        self, path: Path, user: str, credentials: dict[str, str], namespace: str = "default"
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "glm-tts-test",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": _b64(self.ca_file.read_bytes()),
                    },
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [
                {"name": user, "context": {"cluster": "glm-tts-test", "user": user, "namespace": namespace}}
            ],
            "current-context": user,
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def _add_nodes_and_storage(self) -> None:
        self.apply(gpu_cluster_objects())
        volumes: list[dict[str, Any]] = [
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Retain",
            }
        ]
        volumes += [static_volume(f"nfs-{i:02d}") for i in range(STATIC_VOLUMES)]
        self.apply(volumes)

    def _wait_for_default_service_account(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"controller-manager made no default ServiceAccount\n{self.log_tails()}")

    def _probe_pod_lifecycle(self, timeout: float = 90) -> None:
        """A Job through scheduler, job controller and kwok: proof the whole chain works."""
        self.apply(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "control-plane-probe", "namespace": "default"},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}],
                        }
                    },
                },
            }
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            job = self.get("job", "control-plane-probe", "-n", "default")
            if any(
                c["type"] == "Complete" and c["status"] == "True" for c in job["status"].get("conditions", [])
            ):
                self.kubectl("delete", "job", "control-plane-probe", "-n", "default", "--cascade=foreground")
                return
            time.sleep(0.5)
        raise AssertionError(f"probe Job did not complete in {timeout:.0f}s\n{self.log_tails()}")

    def _install_crds(self) -> None:
        crds = SHARED / "crds"
        if not crds.is_dir():
            self.crds_skip_reason = (
                f"{crds} is absent: third-party CRDs (../shared) are not beside this clone"
            )
            return
        self.kubectl("apply", "--server-side", "--field-manager=tests", "-R", "-f", str(crds), timeout=300)
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s", timeout=150)
        self.crds_installed = True

    def require_crds(self) -> None:
        if not self.crds_installed:
            pytest.skip(self.crds_skip_reason or "third-party CRDs are not installed")


# ------------------------------------------------------------------ cluster shape
def gpu_cluster_objects() -> list[dict[str, Any]]:
    """Nodes as a GPU cluster has them: the NVIDIA device plugin's capacity, GPU Feature Discovery
    labels and the GPU taint on GPU nodes (one H100 pair, one MIG-partitioned A100, one L4), and
    CPU-only nodes for everything else."""
    from .kmock_cluster import cpu_node, gpu_node, runtime_class

    nodes = [
        gpu_node("gpu-h100-0"),
        gpu_node("gpu-h100-1"),
        gpu_node(
            "gpu-a100-mig-0",
            product="NVIDIA-A100-SXM4-80GB",
            memory_mib=81920,
            mig={"1g.10gb": (7, 9728), "3g.40gb": (2, 40192)},
        ),
        gpu_node("gpu-l4-0", gpus=1, product="NVIDIA-L4", memory_mib=23034),
        cpu_node("cpu-0"),
        cpu_node("cpu-1"),
    ]
    for node in nodes:
        meta = node["metadata"]
        for key in ("uid", "resourceVersion", "creationTimestamp"):
            meta.pop(key, None)
        meta.setdefault("annotations", {})[KWOK_ANNOTATION] = "fake"
        meta["labels"]["type"] = "kwok"
    # the GPU Operator's RuntimeClass, which GPU pods name
    return [*nodes, runtime_class("nvidia", "nvidia")]


def static_volume(name: str, size: str = "500Gi") -> dict[str, Any]:
    """A pre-provisioned NFS volume for the PV controller to bind (no provisioner runs here)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "nfs": {"server": "10.0.0.10", "path": f"/exports/{name}"},
        },
    }


# ------------------------------------------------------------------ pytest wiring
_started: dict[str, ControlPlane] = {}


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One control plane per test run (per xdist worker; `--dist loadgroup` keeps them on one)."""
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("control-plane", numbered=True))
    _started["plane"] = plane
    try:
        plane.start()
    except BaseException:
        plane.stop()
        raise
    print(
        f"\ncontrol plane {plane.version.get('gitVersion')} up in {plane.startup_seconds:.1f}s "
        f"at {plane.server} (logs: {plane.workdir / 'logs'})"
    )
    try:
        yield plane
    finally:
        plane.stop()
        _started.pop("plane", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep every test that uses the control plane on one xdist worker (one control plane)."""
    for item in items:
        if "control_plane" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("control-plane"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the components' log tails to the report of a failing test that used the cluster."""
    report = yield
    plane = _started.get("plane")
    if report.failed and plane is not None and "control_plane" in getattr(item, "fixturenames", ()):
        report.sections.append(("control plane logs", plane.log_tails()))
    return report
