"""Preflight inputs: what the release will ask of the cluster, parsed from the CLI flags."""

from __future__ import annotations

from dataclasses import dataclass, field

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str  # "Equal" or "Exists", as in a pod spec
    value: str = ""
    effect: str = ""  # empty tolerates every effect


@dataclass(frozen=True)
class Options:
    namespace: str
    gpu_resource: str = "nvidia.com/gpu"
    gpu_count: int = 1
    replicas: int = 1
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    runtime_class: str | None = None
    cuda_version: tuple[int, int] | None = None
    min_gpu_memory_mib: int = 10240  # per model instance
    instances_per_gpu: int = 1
    pvc: str | None = None
    storage_class: str | None = None  # "" = the cluster's default StorageClass
    release_selector: str | None = None  # the release's own pods, replaced by an upgrade
    surge: int = 0  # extra pods a rolling upgrade runs beside the old ones
    node_autoscaler: bool = False  # missing capacity can be added on demand

    @property
    def gpus_needed(self) -> int:
        return self.gpu_count * self.replicas

    @property
    def gpu_memory_needed_mib(self) -> int:
        """Memory each GPU (or MIG slice) must have for its model instances."""
        return self.min_gpu_memory_mib * self.instances_per_gpu


def parse_node_selector(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--node-selector {item!r}: expected KEY=VALUE, e.g. nvidia.com/gpu.present=true")
    return key, value


def parse_toleration(item: str) -> Toleration:
    """`KEY=VALUE:EFFECT` (Equal), `KEY:EFFECT` (Exists); an empty EFFECT tolerates all effects."""
    key_value, sep, effect = item.rpartition(":")
    if not sep:
        raise ValueError(
            f"--toleration {item!r}: expected KEY[=VALUE]:EFFECT, e.g. nvidia.com/gpu:NoSchedule"
        )
    if effect and effect not in EFFECTS:
        raise ValueError(f"--toleration {item!r}: effect must be one of {', '.join(EFFECTS)} or empty")
    key, has_value, value = key_value.partition("=")
    if has_value:
        if not key:
            raise ValueError(f"--toleration {item!r}: a KEY=VALUE toleration needs a key")
        return Toleration(key=key, operator="Equal", value=value, effect=effect)
    return Toleration(key=key, operator="Exists", effect=effect)


def parse_cuda_version(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in text.split(".")[:2])
    except ValueError:
        raise ValueError(f"--cuda-version {text!r}: expected MAJOR.MINOR, e.g. 12.4") from None
    return major, minor
