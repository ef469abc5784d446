"""Why a pod sees no GPU: the evidence found in the container, each with what to change."""

from __future__ import annotations

import glob
from collections.abc import Mapping

NO_DEVICE = (
    "no GPU allocated to the pod: set resources.limits nvidia.com/gpu: 1 (or the MIG resource) "
    "and, where the NVIDIA runtime is not the node default, runtimeClassName: nvidia"
)
HIDDEN = "{name}={value!r} hides every GPU from this process: unset it and let the device plugin choose"
CPU_BUILD = "CPU-only torch build ({version}): the image must ship a CUDA build of torch"
MISMATCH = (
    "driver/runtime mismatch: {error} (the node's driver must be new enough for CUDA {cuda}: "
    "run glm-tts-hooks preflight --cuda-version {cuda})"
)


def nvidia_device_nodes() -> list[str]:
    return sorted(glob.glob("/dev/nvidia[0-9]*"))


def no_gpu_causes(
    environ: Mapping[str, str],
    device_nodes: list[str],
    torch_version: str,
    torch_cuda: str | None,
    init_error: str | None,
) -> list[str]:
    """Evidenced causes first; with no evidence, every usual cause (the caller cannot look further)."""
    causes = []
    if torch_cuda is None:
        causes.append(CPU_BUILD.format(version=torch_version))
    for name, hiding in (
        ("CUDA_VISIBLE_DEVICES", {"", "-1", "none"}),
        ("NVIDIA_VISIBLE_DEVICES", {"", "void", "none"}),
    ):
        if name in environ and environ[name].strip().lower() in hiding:
            causes.append(HIDDEN.format(name=name, value=environ[name]))
    if not device_nodes:
        causes.append(f"no /dev/nvidia* device in the container; {NO_DEVICE}")
    if init_error and torch_cuda is not None:
        causes.append(MISMATCH.format(error=init_error.strip().splitlines()[0], cuda=torch_cuda))
    if causes:
        return causes
    return [
        NO_DEVICE,
        "CUDA_VISIBLE_DEVICES or NVIDIA_VISIBLE_DEVICES empty or 'void'",
        f"driver/runtime mismatch (torch is built for CUDA {torch_cuda})",
        "CPU-only torch build",
    ]
