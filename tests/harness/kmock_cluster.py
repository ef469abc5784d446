"""A realistic Kubernetes API over real HTTP on 127.0.0.1, served by kmock, for the official client.

kmock is asyncio-based; the `kubernetes` client is synchronous. So the kmock server runs in a
background thread with its own event loop, and every change to the cluster from the test thread is
handed to that loop (no shared-state races). On top of kmock's emulator this adds what a real API
server does and the emulator does not: `limit`/`continue` pagination, field and label selectors,
SelfSubjectAccessReview answers, and RBAC denials that refuse the requests themselves.

    with running_cluster() as cluster:
        cluster.add(gpu_node("gpu-1"), namespace_obj("glm-tts"))
        cluster.forbid("list", "nodes")                      # SSAR says no, and GET /api/v1/nodes is 403
        cluster.fail("list", "v1/pods", status=500)          # every pod list answers 500
        cluster.fail("get", "/version/", status=403)         # plain paths work too
        cluster.delay("get", "node.k8s.io/v1/runtimeclasses", seconds=2)
        core = kubernetes.client.CoreV1Api(cluster.api_client())
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")  # for subprocess CLI tests

Object builders (`gpu_node`, `cpu_node`, `pod`, ...) make objects the way the kubelet, the NVIDIA
device plugin and GPU Feature Discovery publish them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kmock
import yaml
from kubernetes import client

T = TypeVar("T")

SERVER_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4",
    "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "gitTreeState": "clean",
    "buildDate": "2024-12-10T11:37:42Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64",
}
SSAR = kmock.resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
SERVICE_ACCOUNT = "system:serviceaccount:glm-tts:glm-tts-hooks"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def resource(self) -> kmock.resource:
        return kmock.resource(self.group, self.version, self.plural)


# The kinds the hooks read, as the API server's discovery describes them.
KINDS = {
    "Node": Kind("", "v1", "nodes", False),
    "Namespace": Kind("", "v1", "namespaces", False),
    "Pod": Kind("", "v1", "pods", True),
    "PersistentVolumeClaim": Kind("", "v1", "persistentvolumeclaims", True),
    "ResourceQuota": Kind("", "v1", "resourcequotas", True),
    "Deployment": Kind("apps", "v1", "deployments", True),
    "StorageClass": Kind("storage.k8s.io", "v1", "storageclasses", False),
    "RuntimeClass": Kind("node.k8s.io", "v1", "runtimeclasses", False),
}
_VERB_ACTIONS = {
    "list": kmock.action.LIST,
    "get": kmock.action.FETCH,
    "watch": kmock.action.WATCH,
    "create": kmock.action.CREATE,
    "update": kmock.action.UPDATE,
    "patch": kmock.action.UPDATE,
    "delete": kmock.action.DELETE,
}


_HTTP_METHODS = {
    "list": "get",
    "get": "get",
    "watch": "get",
    "create": "post",
    "update": "put",
    "patch": "patch",
    "delete": "delete",
}


def _kind_for_resource(resource: str) -> Kind:
    """'nodes', 'v1/nodes', 'node.k8s.io/v1/runtimeclasses' -> the Kind."""
    plural = resource.rsplit("/", 1)[-1]
    for kind in KINDS.values():
        if kind.plural == plural:
            return kind
    raise ValueError(f"unknown resource {resource!r}; known: {sorted(k.plural for k in KINDS.values())}")


class _Emulator(kmock.KubernetesEmulator):
    """kmock's emulator, except that access reviews are answered, never stored (as in Kubernetes)."""

    async def _handle(self, request: kmock.Request) -> Any:
        if request.resource == SSAR:
            return await kmock.KubernetesScaffold._handle(self, request)
        return await super()._handle(request)


class KmockCluster:
    """One kmock server on a free loopback port, with helpers to shape it (see the module doc)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kmock-cluster", daemon=True)
        self._thread.start()
        self._denials: list[tuple[str, str, str, str | None]] = []
        self._injections = itertools.count(1)
        self._snapshot_versions = itertools.count(4242)
        self._snapshots: dict[str, list[dict[str, Any]]] = {}  # list snapshots awaiting their next page
        self.handler, self._server = self._run(self._start())
        self.url = str(self._server.url).rstrip("/")

    # -- lifecycle -------------------------------------------------------------------------
    async def _start(self) -> tuple[kmock.KubernetesEmulator, kmock.Server]:
        handler = _Emulator()
        for kind_name, kind in KINDS.items():
            handler.resources[kind.resource] = kmock.ResourceInfo(
                kind=kind_name, namespaced=kind.namespaced, verbs={"get", "list", "watch", "create", "delete"}
            )
        handler.resources[SSAR] = kmock.ResourceInfo(
            kind="SelfSubjectAccessReview", namespaced=False, verbs={"create"}
        )
        for kind in KINDS.values():
            handler[kmock.action.LIST, kind.resource] << self._serve_list
        handler["create", SSAR] << self._serve_access_review
        handler["get /version/"] << SERVER_VERSION
        handler["get /version"] << SERVER_VERSION
        await handler.__aenter__()
        server = kmock.Server(handler, host="127.0.0.1")
        await server.__aenter__()
        return handler, server

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _in_loop(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return self._run(call())

    def close(self) -> None:
        async def stop() -> None:
            await self._server.__aexit__(None, None, None)
            await self.handler.__aexit__(None, None, None)

        try:
            self._run(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    # -- clients ---------------------------------------------------------------------------
    def configuration(self) -> client.Configuration:
        configuration = client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"authorization": "Bearer kmock-token"}
        return configuration

    def api_client(self) -> client.ApiClient:
        return client.ApiClient(self.configuration())

    def write_kubeconfig(self, path: Path, context: str = "kmock") -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "hooks", "user": {"token": "kmock-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "kmock", "user": "hooks"}}],
        }
        path.write_text(yaml.safe_dump(document))
        return path

    @property
    def requests(self) -> list[kmock.Request]:
        return self._in_loop(lambda: list(self.handler))

    # -- state -----------------------------------------------------------------------------
    def add(self, *objects: dict[str, Any]) -> None:
        """Store objects as the API server would serve them (kind decides the resource)."""

        def store() -> None:
            for obj in objects:
                kind = KINDS[obj["kind"]]
                meta = obj["metadata"]
                namespace = meta.get("namespace") if kind.namespaced else None
                if kind.namespaced and not namespace:
                    raise ValueError(f"{obj['kind']} {meta['name']} needs metadata.namespace")
                self.handler.objects[kind.resource, namespace, meta["name"]] = copy.deepcopy(obj)

        self._in_loop(store)

    def patch(self, kind: str, name: str, patch: dict[str, Any], namespace: str | None = None) -> None:
        """Merge a change into a stored object (a controller updating status, say)."""
        self._in_loop(lambda: self.handler.objects[KINDS[kind].resource, namespace, name].patch(patch))

    # -- faults ----------------------------------------------------------------------------
    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """RBAC says no: access reviews answer allowed=false and the requests themselves get 403."""
        kind = _kind_for_resource(resource)
        self._denials.append((verb, kind.group, kind.plural, namespace))
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{kind.plural} is forbidden: User "{SERVICE_ACCOUNT}" cannot {verb} resource '
            f'"{kind.plural}" in API group "{kind.group}" {scope}'
        )
        self.fail(verb, resource, status=403, reason="Forbidden", message=message, namespace=namespace)

    def fail(
        self,
        verb: str,
        resource: str,
        *,
        status: int = 500,
        reason: str = "InternalError",
        message: str = "etcdserver: request timed out",
        namespace: str | None = None,
    ) -> None:
        """Every matching request gets this error Status (403, 500, 503, ...)."""
        error = _status(status, reason, message)
        self._in_loop(lambda: self._view(verb, resource, namespace).override << error)

    def delay(self, verb: str, resource: str, seconds: float, namespace: str | None = None) -> None:
        """Matching requests are answered normally, but only after `seconds` (client timeouts)."""

        async def slow(request: kmock.Request) -> Any:
            await asyncio.sleep(seconds)
            raise NotImplementedError  # kmock: "matched, nothing to add": serve the normal answer

        self._in_loop(lambda: self._view(verb, resource, namespace).override << slow)

    def _view(self, verb: str, resource: str, namespace: str | None) -> Any:
        """The requests an injection applies to: a resource ("v1/nodes") or a plain path ("/version/"),
        ranked above every earlier injection: in kmock, `(view ** n).override` sorts by the override
        first, then by n (the later wins)."""
        if resource.startswith("/"):
            view = self.handler[f"{_HTTP_METHODS[verb]} {resource}"]
        else:
            view = self.handler[_VERB_ACTIONS[verb], _kind_for_resource(resource).resource]
        if namespace:
            view = view[kmock.namespace(namespace)]
        return view ** next(self._injections)

    # -- reactions (run in the server's loop) ------------------------------------------------
    def _serve_list(self, request: kmock.Request) -> Any:
        """A list page. As the API server does, continued pages come from the snapshot taken for the
        first page (a consistent list), and an unknown snapshot is 410 Gone."""
        kind_name, kind = next((n, k) for n, k in KINDS.items() if k.resource == request.resource)
        params = request.params
        try:
            continued = _decode_continue(params.get("continue", ""))
            label_match = _label_selector(params.get("labelSelector", ""))
            field_match = _field_selector(params.get("fieldSelector", ""))
            limit = int(params.get("limit") or 0)
        except ValueError as exc:
            return _status(400, "BadRequest", str(exc))
        if continued is None:
            version, offset = str(next(self._snapshot_versions)), 0
            rows = []
            for (resource, namespace, name), obj in self.handler.objects.items():
                if resource != request.resource or obj.deleted:
                    continue
                if request.namespace is not None and namespace != request.namespace:
                    continue
                raw = obj.raw
                if label_match((raw.get("metadata") or {}).get("labels") or {}) and field_match(raw):
                    rows.append(((namespace or "", name), raw))
            rows.sort(key=lambda row: row[0])  # etcd returns keys in order
            snapshot = [raw for _, raw in rows]
        else:
            version, offset = continued
            if version not in self._snapshots:
                return _status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without the continue parameter.",
                )
            snapshot = self._snapshots[version]
        end = offset + limit if limit else len(snapshot)
        metadata: dict[str, Any] = {"resourceVersion": version}
        if end < len(snapshot):
            self._snapshots[version] = snapshot
            metadata["continue"] = _encode_continue(version, end)
            metadata["remainingItemCount"] = len(snapshot) - end
        else:
            self._snapshots.pop(version, None)
        api_version = f"{kind.group}/{kind.version}" if kind.group else kind.version
        return {
            "kind": f"{kind_name}List",
            "apiVersion": api_version,
            "metadata": metadata,
            "items": snapshot[offset:end],
        }

    def _serve_access_review(self, request: kmock.Request) -> Any:
        review = request.data or {}
        attributes = (review.get("spec") or {}).get("resourceAttributes") or {}
        verb, group = attributes.get("verb", ""), attributes.get("group", "")
        plural, namespace = attributes.get("resource", ""), attributes.get("namespace") or None
        denied = any(
            verb == d_verb and group == d_group and plural == d_plural and (d_ns is None or d_ns == namespace)
            for d_verb, d_group, d_plural, d_ns in self._denials
        )
        status = {"allowed": not denied}
        if denied:
            status["reason"] = "no RBAC policy matched"
        return {**review, "status": status}


@contextlib.contextmanager
def running_cluster() -> Iterator[KmockCluster]:
    cluster = KmockCluster()
    try:
        yield cluster
    finally:
        cluster.close()


# -- selectors and continue tokens, as the API server reads them -----------------------------------
def _encode_continue(version: str, offset: int) -> str:
    payload = {"v": "meta.k8s.io/v1", "rv": version, "offset": offset}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _decode_continue(token: str) -> tuple[str, int] | None:
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(payload["rv"]), int(payload["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"continue key is not valid: {token!r}") from exc


_SET_TERM = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([\w./-]*))?\s*$")


def _label_selector(selector: str) -> Callable[[dict[str, str]], bool]:
    terms = []
    for raw in re.split(r",(?![^(]*\))", selector) if selector else []:
        match = _SET_TERM.match(raw)
        if not match:
            raise ValueError(f"unable to parse requirement: {raw!r}")
        negated, key, set_op, values, op, value = match.groups()
        terms.append((negated, key, set_op, {v.strip() for v in (values or "").split(",")}, op, value))

    def matches(labels: dict[str, str]) -> bool:
        for negated, key, set_op, values, op, value in terms:
            present = key in labels
            if set_op == "in" and not (present and labels[key] in values):
                return False
            if set_op == "notin" and present and labels[key] in values:
                return False
            if op in ("=", "==") and labels.get(key) != value:
                return False
            if op == "!=" and labels.get(key) == value:
                return False
            if not set_op and not op and present == bool(negated):
                return False
        return True

    return matches


def _field_selector(selector: str) -> Callable[[dict[str, Any]], bool]:
    terms = []
    for raw in selector.split(",") if selector else []:
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", raw)
        if not match:
            raise ValueError(f"invalid field selector: {raw!r}")
        terms.append((match.group(1).split("."), match.group(2), match.group(3)))

    def field(obj: Any, path: list[str]) -> str:
        for part in path:
            obj = obj.get(part) if isinstance(obj, dict) else None
        return "" if obj is None else str(obj)

    def matches(obj: dict[str, Any]) -> bool:
        return all((field(obj, path) == value) == (op != "!=") for path, op, value in terms)

    return matches


def _status(code: int, reason: str, message: str) -> Any:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return kmock.Response(status=code, payload=body)


# -- realistic objects ------------------------------------------------------------------------------
def _node_base(
    name: str,
    labels: dict[str, str],
    allocatable: dict[str, str],
    *,
    ready: bool,
    unschedulable: bool,
    taints: list[dict[str, str]],
) -> dict[str, Any]:
    now = "2026-11-20T08:00:00Z"
    conditions = [
        {
            "type": t,
            "status": "False",
            "reason": f"KubeletHas{r}",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for t, r in (
            ("MemoryPressure", "SufficientMemory"),
            ("DiskPressure", "NoDiskPressure"),
            ("PIDPressure", "SufficientPID"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready else "Unknown",
            "reason": "KubeletReady" if ready else "NodeStatusUnknown",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
    )
    spec: dict[str, Any] = {"providerID": f"aws:///us-east-1a/i-{abs(hash(name)) % 10**12:012d}"}
    all_taints = list(taints)
    if not ready:  # the node lifecycle controller adds these
        all_taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"})
    if unschedulable:
        spec["unschedulable"] = True
        all_taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    if all_taints:
        spec["taints"] = all_taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "creationTimestamp": "2026-11-01T00:00:00Z",
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **labels,
            },
        },
        "spec": spec,
        "status": {
            "capacity": dict(allocatable),
            "allocatable": dict(allocatable),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.4",
                "kubeProxyVersion": "v1.31.4",
                "containerRuntimeVersion": "containerd://1.7.24",
                "bootID": f"boot-{name}",
                "machineID": f"machine-{name}",
                "systemUUID": f"ec2-{name}",
                "kernelVersion": "6.8.0-1019-aws",
                "osImage": "Ubuntu 22.04.5 LTS",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def gpu_node(
    name: str,
    *,
    gpus: int = 8,
    product: str = "NVIDIA-H100-80GB-HBM3",
    memory_mib: int = 81559,
    driver: str = "550.127.05",
    cuda: str = "12.4",
    gfd: bool = True,
    legacy_gfd: bool = False,
    taints: list[dict[str, str]] | None = None,
    ready: bool = True,
    unschedulable: bool = False,
    mig: dict[str, tuple[int, int]] | None = None,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A GPU node as the device plugin (allocatable) and GPU Feature Discovery (labels) publish it.

    `mig` = {"1g.10gb": (count, memory_mib)} models the `mixed` strategy: each MIG profile is its
    own resource, and `nvidia.com/gpu` drops to 0 for the partitioned cards.
    `legacy_gfd` uses the pre-0.6 label names (`nvidia.com/cuda.driver.major/minor/rev`).
    """
    allocatable = {
        "cpu": "191500m",
        "memory": "2097152Mi",
        "pods": "110",
        "ephemeral-storage": "1844Gi",
        "nvidia.com/gpu": str(0 if mig else gpus),
    }
    labels = {
        "node.kubernetes.io/instance-type": "p5.48xlarge",
        "nvidia.com/gpu.present": "true",
        "feature.node.kubernetes.io/pci-10de.present": "true",
    }
    if gfd:
        major, minor, rev = [*driver.split("."), "", ""][:3]
        cuda_major, cuda_minor = cuda.split(".")[:2]
        labels.update(
            {
                "nvidia.com/gpu.product": product,
                "nvidia.com/gpu.count": str(gpus),
                "nvidia.com/gpu.memory": str(memory_mib),
                "nvidia.com/gpu.family": "hopper",
                "nvidia.com/gpu.compute.major": "9",
                "nvidia.com/gpu.compute.minor": "0",
                "nvidia.com/gpu.machine": "p5.48xlarge",
                "nvidia.com/gfd.timestamp": "1763625600",
                "nvidia.com/mig.capable": "true",
                "nvidia.com/mig.strategy": "mixed" if mig else "none",
                "nvidia.com/cuda.runtime-version.major": cuda_major,
                "nvidia.com/cuda.runtime-version.minor": cuda_minor,
            }
        )
        if legacy_gfd:
            labels.update(
                {
                    "nvidia.com/cuda.driver.major": major,
                    "nvidia.com/cuda.driver.minor": minor,
                    "nvidia.com/cuda.driver.rev": rev,
                    "nvidia.com/cuda.runtime.major": cuda_major,
                    "nvidia.com/cuda.runtime.minor": cuda_minor,
                }
            )
        else:
            labels.update(
                {
                    "nvidia.com/cuda.driver-version.full": driver,
                    "nvidia.com/cuda.driver-version.major": major,
                    "nvidia.com/cuda.driver-version.minor": minor,
                    "nvidia.com/cuda.driver-version.revision": rev,
                    "nvidia.com/cuda.runtime-version.full": cuda,
                }
            )
    for profile, (count, profile_memory) in (mig or {}).items():
        allocatable[f"nvidia.com/mig-{profile}"] = str(count)
        labels.update(
            {
                f"nvidia.com/mig-{profile}.count": str(count),
                f"nvidia.com/mig-{profile}.memory": str(profile_memory),
                f"nvidia.com/mig-{profile}.product": f"{product}-MIG-{profile}",
                f"nvidia.com/mig-{profile}.slices.gi": profile.split("g.")[0],
            }
        )
    labels.update(extra_labels or {})
    return _node_base(
        name,
        labels,
        allocatable,
        ready=ready,
        unschedulable=unschedulable,
        taints=[GPU_TAINT] if taints is None else taints,
    )


def cpu_node(
    name: str,
    *,
    ready: bool = True,
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    allocatable = {"cpu": "7910m", "memory": "31Gi", "pods": "110", "ephemeral-storage": "95Gi"}
    return _node_base(
        name,
        {"node.kubernetes.io/instance-type": "m6i.2xlarge", **(labels or {})},
        allocatable,
        ready=ready,
        unschedulable=unschedulable,
        taints=taints or [],
    )


def pod(
    name: str,
    namespace: str,
    node: str,
    *,
    gpus: int = 0,
    resource: str = "nvidia.com/gpu",
    phase: str = "Running",
) -> dict[str, Any]:
    """A scheduled pod; GPU pods set limits only, as most charts do (requests default to limits)."""
    resources: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    if gpus:
        resources["limits"] = {resource: str(gpus)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "main", "image": "registry.example/app@sha256:" + "0" * 64, "resources": resources}
            ],
        },
        "status": {"phase": phase},
    }


def namespace_obj(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
        "status": {"phase": "Active"},
    }


def storage_class(
    name: str, *, default: bool = False, binding: str = "WaitForFirstConsumer"
) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": "ebs.csi.aws.com",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": binding,
        "allowVolumeExpansion": True,
    }


def runtime_class(name: str = "nvidia", handler: str = "nvidia") -> dict[str, Any]:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": name},
        "handler": handler,
    }


def pvc(
    name: str,
    namespace: str,
    *,
    phase: str = "Bound",
    access_modes: tuple[str, ...] = ("ReadWriteOnce",),
    storage_class_name: str = "gp3",
    size: str = "50Gi",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "accessModes": list(access_modes),
            "storageClassName": storage_class_name,
            "resources": {"requests": {"storage": size}},
        },
        "status": {"phase": phase, "accessModes": list(access_modes), "capacity": {"storage": size}},
    }


def resource_quota(name: str, namespace: str, hard: dict[str, str], used: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hard": dict(hard)},
        "status": {"hard": dict(hard), "used": dict(used)},
    }


def deployment(
    name: str,
    namespace: str,
    *,
    replicas: int = 1,
    generation: int = 2,
    observed: int = 2,
    updated: int | None = None,
    available: int | None = None,
    ready: int | None = None,
    total: int | None = None,
    progress_deadline_exceeded: bool = False,
) -> dict[str, Any]:
    """A Deployment and the status its controller reports (a finished rollout unless told otherwise)."""
    updated = replicas if updated is None else updated
    available = replicas if available is None else available
    conditions = [
        {
            "type": "Available",
            "status": "True" if available >= replicas else "False",
            "reason": "MinimumReplicasAvailable",
        }
    ]
    if progress_deadline_exceeded:
        conditions.append(
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-7c9f" has timed out progressing.',
            }
        )
    else:
        conditions.append({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"containers": [{"name": "server", "image": "glm-tts"}]},
            },
        },
        "status": {
            "observedGeneration": observed,
            "replicas": replicas if total is None else total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available if ready is None else ready,
            "conditions": conditions,
        },
    }
