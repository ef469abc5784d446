"""What NVIDIA's device plugin and GPU Feature Discovery (GFD) publish about a node's GPUs."""

from __future__ import annotations

import re
from typing import Any

from glm_tts_hooks.preflight.scheduling import labels_of

MIG_RESOURCE = re.compile(r"^nvidia\.com/mig-(\d+)g\.(\d+)gb$")

# Minimum Linux driver for a CUDA runtime (CUDA Toolkit release notes, "CUDA Toolkit and
# Corresponding Driver Versions" / minor version compatibility): any 12.x runs on >= 525.60.13,
# any 13.x on >= 580; 11.8 built before minor-version compatibility hit its own floor.
_MIN_DRIVER = {(11, 8): "520.61.05"}
_MIN_DRIVER_BY_MAJOR = {11: "450.80.02", 12: "525.60.13", 13: "580"}


def min_driver_for_cuda(cuda: tuple[int, int]) -> str:
    if cuda in _MIN_DRIVER:
        return _MIN_DRIVER[cuda]
    if cuda[0] in _MIN_DRIVER_BY_MAJOR:
        return _MIN_DRIVER_BY_MAJOR[cuda[0]]
    raise ValueError(
        f"--cuda-version {cuda[0]}.{cuda[1]}: no known driver minimum (supported: 11.x, 12.x, 13.x)"
    )


def parse_version(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return None


def driver_version(node: dict[str, Any]) -> str | None:
    """The driver GFD reported ("550.127.05"): current labels first, then the pre-0.6 ones."""
    labels = labels_of(node)
    full = labels.get("nvidia.com/cuda.driver-version.full")
    if full:
        return full
    for prefix, rev in (("nvidia.com/cuda.driver-version.", "revision"), ("nvidia.com/cuda.driver.", "rev")):
        parts = [labels.get(prefix + "major"), labels.get(prefix + "minor"), labels.get(prefix + rev)]
        if parts[0] is not None:
            return ".".join(p for p in parts if p)
    return None


def driver_at_least(driver: str, minimum: str) -> bool | None:
    """None when the label is not a version (cannot judge)."""
    have, need = parse_version(driver), parse_version(minimum)
    return None if have is None or need is None else have >= need


def gpu_memory_mib(node: dict[str, Any], resource: str) -> int | None:
    """Memory of one allocatable unit: the MIG profile's own label, else the whole GPU's."""
    labels = labels_of(node)
    mig = MIG_RESOURCE.match(resource)
    key = f"{resource}.memory" if mig else "nvidia.com/gpu.memory"
    value = labels.get(key)
    if value is not None and value.isdigit():
        return int(value)
    if mig:  # no GFD: the profile name rounds up ("1g.10gb" has 9728-9984 MiB), so read it as decimal GB
        return int(mig.group(2)) * 1000
    return None


def gpu_product(node: dict[str, Any], resource: str) -> str | None:
    labels = labels_of(node)
    if MIG_RESOURCE.match(resource) and labels.get(f"{resource}.product"):
        return labels[f"{resource}.product"]
    return labels.get("nvidia.com/gpu.product")


# Labels that say "this node has an NVIDIA GPU" even when no device plugin advertises it yet:
# GPU Feature Discovery's, and Node Feature Discovery's PCI vendor label (10de = NVIDIA). A
# `.present` label counts only when "true": the GPU Operator sets nvidia.com/gpu.present=false on a
# node whose GPUs are gone.
GPU_PRESENT_LABELS = ("nvidia.com/gpu.present", "feature.node.kubernetes.io/pci-10de.present")
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


def has_gpu_labels(node: dict[str, Any]) -> bool:
    labels = labels_of(node)
    return bool(labels.get(GPU_PRODUCT_LABEL)) or any(labels.get(key) == "true" for key in GPU_PRESENT_LABELS)


def nvidia_resources(node: dict[str, Any]) -> dict[str, int]:
    """The nvidia.com/* resources a node advertises with a non-zero count."""
    out = {}
    for name, value in ((node.get("status") or {}).get("allocatable") or {}).items():
        if name.startswith("nvidia.com/") and str(value).isdigit() and int(value) > 0:
            out[name] = int(value)
    return out
