"""The preflight checks, in the order a person would debug a Pending GPU pod.

Each check adds one row to the report; a failure's `fix` says what to change. API errors (5xx,
timeouts) abort the run (exit 2); RBAC refusals fail the check that needed the permission.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from glm_tts_hooks.kube import Forbidden, Kube, KubeError, path
from glm_tts_hooks.preflight import gpu
from glm_tts_hooks.preflight.access import Permission, denied_permissions, required_permissions
from glm_tts_hooks.preflight.options import Options, Toleration
from glm_tts_hooks.preflight.scheduling import (
    TERMINATED_PHASES_SELECTOR,
    allocatable,
    is_cordoned,
    is_ready,
    matches_selector,
    name_of,
    pod_request,
    untolerated_taints,
)
from glm_tts_hooks.report import Report, Status

GPU_OPERATOR_FIX = (
    "install the NVIDIA GPU Operator (helm install gpu-operator nvidia/gpu-operator -n "
    "gpu-operator --create-namespace) or the NVIDIA device plugin DaemonSet on the GPU nodes"
)
CPU_ONLY = "CPU-only release (--gpu-count 0): GPU checks skipped"
SHOW = 5  # node names listed in a detail before "and N more"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOW])
    return shown + (f" and {len(names) - SHOW} more" if len(names) > SHOW else "")


def _gpu_view(node: dict[str, Any]) -> dict[str, Any]:
    """The parts of a node the GPU checks read. Real nodes carry kilobytes more (status.images)."""
    metadata, status = node.get("metadata") or {}, node.get("status") or {}
    return {
        "metadata": {"name": metadata.get("name"), "labels": metadata.get("labels") or {}},
        "status": {"allocatable": status.get("allocatable") or {}},
    }


@dataclass
class Scheduling:
    """What the pod will carry after admission: the release's selector and tolerations, plus
    those of its RuntimeClass (the RuntimeClass admission plugin merges them in)."""

    node_selector: dict[str, str]
    tolerations: list[Toleration]


@dataclass
class GpuNode:
    name: str
    node: dict[str, Any]
    allocatable: int
    used: int = 0

    @property
    def free(self) -> int:
        return max(self.allocatable - self.used, 0)


@dataclass
class PodUsage:
    """GPUs requested by running pods, per node; the release's own pods apart."""

    used: Counter[str]
    own_gpus: int
    own_pods: int


@dataclass
class Preflight:
    kube: Kube
    options: Options
    report: Report = field(default_factory=Report)
    denied: set[Permission] = field(default_factory=set)
    _pod_usage: Future[PodUsage] | None = None

    def run(self) -> Report:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="preflight-pods") as background:
            try:
                self.check_api()
                self.check_permissions()
                if self.options.gpu_count > 0 and Permission("list", "pods") not in self.denied:
                    # The cluster-wide pod list is the other big read: the API server pages it out
                    # while this thread reads the nodes.
                    self._pod_usage = background.submit(self._gpu_requests_by_node)
                scheduling = self.check_runtime_class()
                nodes = self.check_nodes(scheduling)
                if self.options.gpu_count > 0:
                    gpu_nodes = self.check_device_plugin(nodes)
                    gpu_nodes = self.check_driver(gpu_nodes)
                    gpu_nodes = self.check_gpu_memory(gpu_nodes)
                    self.check_capacity(gpu_nodes)
                    self.check_quota()
                else:
                    for name in ("device-plugin", "gpu-driver", "gpu-memory", "gpu-capacity", "gpu-quota"):
                        self.report.add(name, Status.SKIP, CPU_ONLY)
                self.check_storage()
            except KubeError as exc:
                self.report.error = str(exc)
        return self.report

    # -- helpers ---------------------------------------------------------------------------
    def _blocked(self, name: str, *permissions: Permission) -> bool:
        """Skip a check whose permission was denied (the permissions row already says what to grant)."""
        missing = [p for p in permissions if p in self.denied]
        if missing:
            self.report.add(
                name,
                Status.SKIP,
                f"not checked: cannot {', '.join(map(str, missing))} (see the permissions check)",
            )
        return bool(missing)

    def _forbidden(self, name: str, exc: Forbidden, permission: Permission) -> None:
        self.report.add(name, Status.FAIL, str(exc), f"grant {permission}: {permission.rule()}")

    # -- checks ----------------------------------------------------------------------------
    def check_api(self) -> None:
        try:
            version = self.kube.call("read the server version", "/version/")
        except Forbidden as exc:  # /version is public by default; a hardened cluster may close it
            self.report.add(
                "api",
                Status.WARN,
                f"{self.kube.host} answers, but {exc}",
                "bind the system:public-info-viewer ClusterRole to see the server version",
            )
            return
        self.report.add(
            "api",
            Status.PASS,
            f"{self.kube.host} answers (Kubernetes {version.get('gitVersion', 'unknown')})",
        )

    def check_permissions(self) -> None:
        needed = required_permissions(self.options)
        self.denied = set(denied_permissions(self.kube, needed))
        if not self.denied:
            self.report.add(
                "permissions",
                Status.PASS,
                f"all {len(needed)} permissions granted: " + "; ".join(map(str, needed)),
            )
            return
        ordered = [p for p in needed if p in self.denied]
        self.report.add(
            "permissions",
            Status.FAIL,
            "cannot " + "; cannot ".join(map(str, ordered)),
            "grant the preflight ServiceAccount: " + "; ".join(p.rule() for p in ordered),
        )

    def check_runtime_class(self) -> Scheduling:
        scheduling = Scheduling(dict(self.options.node_selector), list(self.options.tolerations))
        name = self.options.runtime_class
        if not name:
            self.report.add(
                "runtime-class", Status.SKIP, "no --runtime-class: the node's default runtime is used"
            )
            return scheduling
        permission = Permission("get", "runtimeclasses", group="node.k8s.io")
        if self._blocked("runtime-class", permission):
            return scheduling
        try:
            runtime_class = self.kube.get(
                f"get runtimeclass {name}", path("/apis/node.k8s.io/v1/runtimeclasses/{}", name)
            )
        except Forbidden as exc:
            self._forbidden("runtime-class", exc, permission)
            return scheduling
        if runtime_class is None:
            self.report.add(
                "runtime-class",
                Status.FAIL,
                f"RuntimeClass {name!r} does not exist",
                f"create RuntimeClass {name!r} (the GPU Operator creates 'nvidia' with "
                "toolkit.enabled=true) or unset runtimeClassName / --runtime-class",
            )
            return scheduling
        rules = runtime_class.get("scheduling") or {}
        scheduling.node_selector.update(rules.get("nodeSelector") or {})
        scheduling.tolerations.extend(
            Toleration(
                key=t.get("key", ""),
                operator=t.get("operator", "Equal"),
                value=t.get("value", ""),
                effect=t.get("effect", ""),
            )
            for t in rules.get("tolerations") or []
        )
        self.report.add(
            "runtime-class",
            Status.PASS,
            f"RuntimeClass {name!r} exists (handler {runtime_class.get('handler', '?')!r})",
        )
        return scheduling

    def check_nodes(self, scheduling: Scheduling) -> list[dict[str, Any]]:
        permission = Permission("list", "nodes")
        if self._blocked("nodes", permission):
            return []
        excluded: dict[str, list[str]] = defaultdict(list)
        taints: Counter[str] = Counter()
        usable = []
        total = 0
        try:
            # Streamed page by page: only the usable nodes' labels and allocatable are kept.
            for node in self.kube.list_all("list nodes", "/api/v1/nodes"):
                total += 1
                if not matches_selector(node, scheduling.node_selector):
                    excluded["selector"].append(name_of(node))
                elif blocking := untolerated_taints(node, scheduling.tolerations):
                    excluded["taints"].append(name_of(node))
                    taints.update(blocking)
                elif not is_ready(node):
                    excluded["not-ready"].append(name_of(node))
                elif is_cordoned(node):
                    excluded["cordoned"].append(name_of(node))
                else:
                    usable.append(_gpu_view(node))
        except Forbidden as exc:
            self._forbidden("nodes", exc, permission)
            return []
        self.report.figures["nodes_total"] = total
        self.report.figures["nodes_usable"] = len(usable)
        reasons = []
        if excluded["selector"]:
            selector = ",".join(f"{k}={v}" for k, v in scheduling.node_selector.items())
            reasons.append(f"{len(excluded['selector'])} lack the labels {selector}")
        if excluded["taints"]:
            top = ", ".join(t for t, _ in taints.most_common(3))
            reasons.append(f"{len(excluded['taints'])} have taints the pod does not tolerate ({top})")
        if excluded["not-ready"]:
            reasons.append(f"{len(excluded['not-ready'])} are NotReady ({_names(excluded['not-ready'])})")
        if excluded["cordoned"]:
            reasons.append(f"{len(excluded['cordoned'])} are cordoned ({_names(excluded['cordoned'])})")
        summary = f"{len(usable)} of {total} nodes can take the pod"
        detail = summary + (f"; {'; '.join(reasons)}" if reasons else "")
        if usable:
            self.report.add("nodes", Status.PASS, detail)
            return usable
        fix = self._nodes_fix(excluded, taints, scheduling)
        # Nodes the autoscaler adds carry their group's taints: it cannot help against those.
        if self.options.node_autoscaler and not excluded["taints"]:
            self.report.add(
                "nodes",
                Status.WARN,
                detail + "; the node autoscaler must add one (the pod stays Pending until it does)",
                "make sure an autoscaled node group carries the selector labels and fits the pod; " + fix,
            )
        else:
            self.report.add("nodes", Status.FAIL, detail, fix)
        return []

    def _nodes_fix(self, excluded: dict[str, list[str]], taints: Counter[str], scheduling: Scheduling) -> str:
        if not any(excluded.values()):
            return "the cluster has no nodes: add worker nodes"
        fixes = []
        if excluded["selector"] and len(excluded["selector"]) == sum(map(len, excluded.values())):
            fixes.append(
                "no node carries the selector labels: label the GPU nodes (kubectl label node NAME "
                + " ".join(f"{k}={v}" for k, v in scheduling.node_selector.items())
                + ") or change nodeSelector / --node-selector"
            )
        if taints:
            taint = taints.most_common(1)[0][0]
            fixes.append(f"tolerate {taint} (values tolerations / --toleration {taint})")
        if excluded["not-ready"]:
            fixes.append("bring the NotReady nodes back (kubectl describe node; check the kubelet)")
        if excluded["cordoned"]:
            fixes.append(f"kubectl uncordon {excluded['cordoned'][0]} (once its maintenance is over)")
        return "; ".join(fixes) or "relax nodeSelector / --node-selector"

    def check_device_plugin(self, nodes: list[dict[str, Any]]) -> list[GpuNode]:
        resource = self.options.gpu_resource
        if not nodes:
            self.report.add("device-plugin", Status.SKIP, "no usable node to look at (see the nodes check)")
            return []
        gpu_nodes = [GpuNode(name_of(n), n, allocatable(n, resource)) for n in nodes]
        gpu_nodes = [g for g in gpu_nodes if g.allocatable > 0]
        if gpu_nodes:
            total = sum(g.allocatable for g in gpu_nodes)
            self.report.add(
                "device-plugin",
                Status.PASS,
                f"{len(gpu_nodes)} usable nodes advertise {resource} ({total} allocatable)",
            )
            return gpu_nodes
        others = Counter(r for n in nodes for r in gpu.nvidia_resources(n))
        if others:
            offered = ", ".join(f"{r} ({c} nodes)" for r, c in others.most_common())
            commonest = others.most_common(1)[0][0]
            mig = [r for r in others if gpu.MIG_RESOURCE.match(r)]
            if gpu.MIG_RESOURCE.match(resource):
                fix = (
                    f"partition the GPUs so the MIG profile exists (nvidia.com/mig.config label with MIG "
                    f"strategy 'mixed'), or request one that is offered: gpu.resourceName / --gpu-resource "
                    f"{commonest}"
                )
            elif mig:
                fix = (
                    f"these GPUs are MIG-partitioned: request a MIG resource, e.g. gpu.resourceName / "
                    f"--gpu-resource {mig[0]}"
                )
            else:
                fix = f"request an offered resource: gpu.resourceName / --gpu-resource {commonest}"
            self.report.add(
                "device-plugin",
                Status.FAIL,
                f"no usable node advertises {resource}; they offer {offered}",
                fix,
            )
        elif self.options.node_autoscaler and not any(gpu.has_gpu_labels(n) for n in nodes):
            self.report.add(
                "device-plugin",
                Status.WARN,
                f"none of the {len(nodes)} usable nodes has a GPU: the node autoscaler must add a GPU "
                f"node advertising {resource}",
                "make sure an autoscaled GPU node group matches the pod; " + GPU_OPERATOR_FIX,
            )
        else:
            self.report.add(
                "device-plugin",
                Status.FAIL,
                f"none of the {len(nodes)} usable nodes advertises {resource}: no device plugin "
                "evidence (allocatable is 0 or absent)",
                GPU_OPERATOR_FIX,
            )
        return []

    def check_driver(self, gpu_nodes: list[GpuNode]) -> list[GpuNode]:
        cuda = self.options.cuda_version
        if not gpu_nodes:
            self.report.add("gpu-driver", Status.SKIP, "no GPU node to look at")
            return gpu_nodes
        if cuda is None:
            self.report.add("gpu-driver", Status.SKIP, "no --cuda-version given: driver not compared")
            return gpu_nodes
        minimum = gpu.min_driver_for_cuda(cuda)
        unknown, old, good = [], [], []
        for g in gpu_nodes:
            driver = gpu.driver_version(g.node)
            verdict = gpu.driver_at_least(driver, minimum) if driver else None
            (unknown if verdict is None else good if verdict else old).append((g, driver))
        need = f"CUDA {cuda[0]}.{cuda[1]} needs driver >= {minimum}"
        if old and not good and not unknown:
            drivers = ", ".join(sorted({d for _, d in old if d}))
            self.report.add(
                "gpu-driver",
                Status.FAIL,
                f"every GPU node runs an older driver ({drivers}) than {need}",
                f"upgrade the NVIDIA driver to >= {minimum} (GPU Operator: driver.version), or use an "
                "image built for an older CUDA",
            )
            return []
        parts = []
        if good:
            parts.append(f"{len(good)} nodes OK ({', '.join(sorted({d for _, d in good if d}))})")
        if old:
            parts.append(f"{len(old)} too old: {_names([f'{g.name} ({d})' for g, d in old])}")
        if unknown:
            parts.append(f"{len(unknown)} without GFD driver labels: {_names([g.name for g, _ in unknown])}")
        detail = f"{need}: " + "; ".join(parts)
        if old:
            self.report.add(
                "gpu-driver",
                Status.WARN,
                detail,
                f"upgrade the driver on the old nodes to >= {minimum}, or keep the release off them "
                "with a nodeSelector on nvidia.com/cuda.driver-version.major",
            )
        elif unknown:
            self.report.add(
                "gpu-driver",
                Status.WARN,
                detail,
                "enable GPU Feature Discovery (GPU Operator gfd.enabled=true) so the driver is known "
                "before install; cuda-check verifies it in the pod meanwhile",
            )
        else:
            self.report.add("gpu-driver", Status.PASS, detail)
        return [g for g, _ in good + unknown]

    def check_gpu_memory(self, gpu_nodes: list[GpuNode]) -> list[GpuNode]:
        resource, need = self.options.gpu_resource, self.options.gpu_memory_needed_mib
        instances = self.options.instances_per_gpu
        need_text = (
            f"{need} MiB ({instances} instances x {self.options.min_gpu_memory_mib} MiB)"
            if instances > 1
            else f"{need} MiB"
        )
        if not gpu_nodes:
            self.report.add("gpu-memory", Status.SKIP, "no GPU node to look at")
            return gpu_nodes
        small, fit, unknown = [], [], []
        products: Counter[str] = Counter()
        for g in gpu_nodes:
            memory = gpu.gpu_memory_mib(g.node, resource)
            products[f"{gpu.gpu_product(g.node, resource) or 'unknown product'} ({memory or '?'} MiB)"] += (
                g.allocatable
            )
            (unknown if memory is None else fit if memory >= need else small).append((g, memory))
        inventory = ", ".join(f"{p} x{c}" for p, c in products.most_common())
        self.report.figures["gpu_products"] = dict(products)
        if small and not fit and not unknown:
            fix = (
                f"use GPUs with >= {need} MiB"
                + (
                    " (a larger MIG profile, e.g. nvidia.com/mig-2g.20gb)"
                    if gpu.MIG_RESOURCE.match(resource)
                    else ""
                )
                + (
                    " or fewer model instances per GPU (--instances-per-gpu)"
                    if instances > 1
                    else " or lower --min-gpu-memory-mib if the model fits"
                )
            )
            self.report.add(
                "gpu-memory", Status.FAIL, f"each {resource} has less than {need_text}: {inventory}", fix
            )
            return []
        if small:
            self.report.add(
                "gpu-memory",
                Status.WARN,
                f"{len(small)} nodes have {resource} below {need_text}: "
                f"{_names([g.name for g, _ in small])}; {inventory}",
                "keep the release off them with a nodeSelector on nvidia.com/gpu.product",
            )
        elif unknown:
            self.report.add(
                "gpu-memory",
                Status.WARN,
                f"GPU memory unknown on {len(unknown)} nodes (no GFD labels): {inventory}",
                "enable GPU Feature Discovery (GPU Operator gfd.enabled=true)",
            )
        else:
            self.report.add("gpu-memory", Status.PASS, f">= {need_text} per {resource}: {inventory}")
        return [g for g, _ in fit + unknown]

    def check_capacity(self, gpu_nodes: list[GpuNode]) -> None:
        options, resource = self.options, self.options.gpu_resource
        if not gpu_nodes:
            self.report.add("gpu-capacity", Status.SKIP, "no GPU node passes the checks above")
            return
        permission = Permission("list", "pods")
        if self._blocked("gpu-capacity", permission):
            return
        by_name = {g.name: g for g in gpu_nodes}
        try:
            usage = self._pod_usage.result() if self._pod_usage else self._gpu_requests_by_node()
        except Forbidden as exc:
            self._forbidden("gpu-capacity", exc, permission)
            return
        for name, gpus in usage.used.items():
            if name in by_name:
                by_name[name].used += gpus
        own, own_gpus = usage.own_pods, usage.own_gpus
        # A rolling upgrade runs its surge pods beside the old ones; an install has none to keep.
        surge = options.surge if own else 0
        wanted = options.replicas + surge
        slots = {g.name: g.free // options.gpu_count for g in gpu_nodes if g.free >= options.gpu_count}
        free_total = sum(g.free for g in gpu_nodes)
        used_total = sum(g.used for g in gpu_nodes)
        self.report.figures.update(
            gpus_free=free_total,
            gpus_in_use=used_total,
            gpus_of_this_release=own_gpus,
            replica_slots=sum(slots.values()),
        )
        detail = (
            f"{options.replicas} replica(s)"
            + (f" + {surge} surge" if surge else "")
            + f" x {options.gpu_count} {resource}: {free_total} free of {free_total + used_total} on "
            f"{len(gpu_nodes)} nodes ({used_total} requested by running pods"
            + (
                f"; {own_gpus} held by this release's {own} pods not counted: the upgrade replaces them"
                if own
                else ""
            )
            + f"); room for {sum(slots.values())} replica(s) on {len(slots)} nodes"
        )
        if sum(slots.values()) < wanted:
            fix = (
                "free GPUs (scale down other GPU workloads), add GPU nodes (cluster autoscaler node "
                "group), or lower replicaCount / gpu.count"
                + (
                    "; or upgrade without surge (strategy Recreate, or RollingUpdate maxSurge 0 with "
                    "maxUnavailable 1)"
                    if surge
                    else ""
                )
            )
            if options.node_autoscaler:
                missing = wanted - sum(slots.values())
                self.report.add(
                    "gpu-capacity",
                    Status.WARN,
                    detail + f"; the node autoscaler must add room for {missing} more pod(s)",
                    fix,
                )
            else:
                self.report.add("gpu-capacity", Status.FAIL, detail, fix)
        elif len(slots) < options.replicas:
            self.report.add(
                "gpu-capacity",
                Status.WARN,
                detail + "; replicas will share nodes",
                "add GPU nodes so one node failure does not take several replicas down",
            )
        else:
            self.report.add("gpu-capacity", Status.PASS, detail)

    def _gpu_requests_by_node(self) -> PodUsage:
        """Runs in the background thread: API reads only, no report rows."""
        resource = self.options.gpu_resource
        own = self._release_pods()
        used: Counter[str] = Counter()
        own_gpus = 0
        for p in self.kube.list_all("list pods", "/api/v1/pods", fieldSelector=TERMINATED_PHASES_SELECTOR):
            node_name = (p.get("spec") or {}).get("nodeName")
            request = pod_request(p, resource) if node_name else 0
            if not request:
                continue
            if (p.get("metadata") or {}).get("uid") in own:
                own_gpus += request  # the upgrade replaces these pods: their GPUs come free
            else:
                used[node_name] += request
        return PodUsage(used, own_gpus, len(own))

    def _release_pods(self) -> set[str]:
        """UIDs of the release's running pods (--release-selector), selected by the API server."""
        selector = self.options.release_selector
        if not selector:
            return set()
        pods = self.kube.list_all(
            f"list pods of the release in {self.options.namespace}",
            path("/api/v1/namespaces/{}/pods", self.options.namespace),
            labelSelector=selector,
            fieldSelector=TERMINATED_PHASES_SELECTOR,
        )
        return {uid for p in pods if (uid := (p.get("metadata") or {}).get("uid"))}

    def check_quota(self) -> None:
        options = self.options
        permission = Permission("list", "resourcequotas", namespace=options.namespace)
        if self._blocked("gpu-quota", permission):
            return
        key = f"requests.{options.gpu_resource}"
        try:
            quotas = list(
                self.kube.list_all(
                    f"list resourcequotas in {options.namespace}",
                    path("/api/v1/namespaces/{}/resourcequotas", options.namespace),
                )
            )
        except Forbidden as exc:
            self._forbidden("gpu-quota", exc, permission)
            return
        limiting = []
        for quota in quotas:
            status = quota.get("status") or {}
            hard = (status.get("hard") or (quota.get("spec") or {}).get("hard") or {}).get(key)
            if hard is None:
                continue
            used = (status.get("used") or {}).get(key, "0")
            limiting.append((name_of(quota), int(float(hard)), int(float(used))))
        if not limiting:
            self.report.add("gpu-quota", Status.PASS, f"no ResourceQuota in {options.namespace} limits {key}")
            return
        name, hard, used = min(limiting, key=lambda q: q[1] - q[2])
        detail = (
            f"ResourceQuota {name}: {key} hard {hard}, used {used}, room {hard - used}; the release "
            f"requests {options.gpus_needed}"
        )
        if hard - used >= options.gpus_needed:
            self.report.add("gpu-quota", Status.PASS, detail)
        else:
            self.report.add(
                "gpu-quota",
                Status.FAIL,
                detail,
                f"raise {key} in ResourceQuota {name} to >= {used + options.gpus_needed} "
                f"(kubectl edit resourcequota {name} -n {options.namespace}) or free GPUs in the "
                "namespace",
            )

    def check_storage(self) -> None:
        options = self.options
        if options.pvc:
            self._check_pvc(options.pvc)
        elif options.storage_class is not None:
            self._check_storage_class(options.storage_class)
        else:
            self.report.add(
                "storage", Status.SKIP, "no --pvc or --storage-class: the release mounts no model volume"
            )

    def _check_pvc(self, name: str) -> None:
        options = self.options
        permission = Permission("get", "persistentvolumeclaims", namespace=options.namespace)
        if self._blocked("storage", permission):
            return
        try:
            claim = self.kube.get(
                f"get persistentvolumeclaim {name}",
                path("/api/v1/namespaces/{}/persistentvolumeclaims/{}", options.namespace, name),
            )
        except Forbidden as exc:
            self._forbidden("storage", exc, permission)
            return
        if claim is None:
            self.report.add(
                "storage",
                Status.FAIL,
                f"PersistentVolumeClaim {name!r} not found in {options.namespace}",
                f"create the claim {name!r} in {options.namespace} (with the model weights), or set "
                "--storage-class to let the chart create one",
            )
            return
        phase = (claim.get("status") or {}).get("phase", "Unknown")
        modes = (claim.get("spec") or {}).get("accessModes") or []
        detail = f"PersistentVolumeClaim {name!r} is {phase} ({', '.join(modes) or 'no access modes'})"
        if phase == "Lost":
            self.report.add(
                "storage", Status.FAIL, detail, f"its volume is gone: restore or recreate claim {name!r}"
            )
        elif options.surge and modes and set(modes) <= {"ReadWriteOnce", "ReadWriteOncePod"}:
            self.report.add(
                "storage",
                Status.WARN,
                detail + f"; a surge pod (--surge {options.surge}) scheduled on another node cannot attach "
                "it while the old pod holds it (Multi-Attach error), so the rollout stalls",
                "with a ReadWriteOnce model volume use strategy Recreate (or RollingUpdate maxSurge 0), "
                "or a ReadOnlyMany/ReadWriteMany claim",
            )
        elif options.replicas > 1 and modes and set(modes) <= {"ReadWriteOnce", "ReadWriteOncePod"}:
            self.report.add(
                "storage",
                Status.WARN,
                detail + f"; {options.replicas} replicas on different nodes cannot all mount it",
                "use a ReadOnlyMany/ReadWriteMany claim for several replicas",
            )
        elif phase == "Pending":
            self.report.add(
                "storage",
                Status.WARN,
                detail + "; it binds when the first pod is scheduled "
                "(WaitForFirstConsumer) or is waiting for a provisioner",
                f"kubectl describe pvc {name} -n {options.namespace} if it stays Pending",
            )
        else:
            self.report.add("storage", Status.PASS, detail)

    def _check_storage_class(self, name: str) -> None:
        group = "storage.k8s.io"
        permission = Permission("get" if name else "list", "storageclasses", group=group)
        if self._blocked("storage", permission):
            return
        try:
            if name:
                found = self.kube.get(
                    f"get storageclass {name}", path("/apis/storage.k8s.io/v1/storageclasses/{}", name)
                )
                if found is None:
                    self.report.add(
                        "storage",
                        Status.FAIL,
                        f"StorageClass {name!r} does not exist",
                        "set --storage-class / persistence.storageClass to one of kubectl get "
                        "storageclass, or create it",
                    )
                else:
                    self.report.add(
                        "storage",
                        Status.PASS,
                        f"StorageClass {name!r} exists (provisioner {found.get('provisioner', '?')})",
                    )
                return
            classes = list(
                self.kube.list_all("list storageclasses", "/apis/storage.k8s.io/v1/storageclasses")
            )
        except Forbidden as exc:
            self._forbidden("storage", exc, permission)
            return
        defaults = [
            name_of(c)
            for c in classes
            if ((c.get("metadata") or {}).get("annotations") or {}).get(
                "storageclass.kubernetes.io/is-default-class"
            )
            == "true"
        ]
        if defaults:
            self.report.add(
                "storage", Status.PASS, f"default StorageClass {defaults[0]!r} will provision the claim"
            )
        else:
            available = ", ".join(name_of(c) for c in classes) or "none"
            self.report.add(
                "storage",
                Status.FAIL,
                f"no default StorageClass (classes: {available})",
                "name one with --storage-class / persistence.storageClass, or mark one default: "
                "kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=true",
            )
