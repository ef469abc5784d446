"""The cuda-check checks: torch sees the GPUs, they are the right kind, and they compute correctly at
the speed their model should reach."""

from __future__ import annotations

import argparse
import os
from typing import Any

from glm_tts_hooks.cuda_check import floors, probe
from glm_tts_hooks.cuda_check.diagnosis import no_gpu_causes, nvidia_device_nodes
from glm_tts_hooks.report import Report, Status, emit_args

GIB = 1024**3


def memory_needed_gib(args: argparse.Namespace) -> float:
    """Free memory each GPU needs: every model instance sharing it loads its own copy."""
    return args.min_free_memory_gib * args.instances_per_gpu


def cuda_check(args: argparse.Namespace) -> int:
    report = Report()
    title = "GLM-TTS cuda-check"
    try:
        import torch
    except ImportError as exc:
        report.add(
            "torch",
            Status.FAIL,
            f"torch is not installed in this image ({exc})",
            "run cuda-check in the glm-tts service image (it ships torch with CUDA), or install "
            "glm-tts-hooks[cuda]",
        )
        return emit_args(report, args, title=title)
    report.add(
        "torch", Status.PASS, f"torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}"
    )
    if not _gpus_visible(report, torch, args.expect_gpus):
        return emit_args(report, args, title=title)
    _check_stack(report, torch)
    for device in probe.devices(torch):
        _check_device(report, torch, device, args)
    return emit_args(report, args, title=title)


def _gpus_visible(report: Report, torch: Any, expected: int) -> bool:
    init_error = None
    try:
        torch.cuda.init()
    except Exception as exc:  # torch raises RuntimeError/AssertionError/AcceleratorError by build
        init_error = str(exc)
    count = torch.cuda.device_count() if init_error is None else 0
    if count == 0:
        causes = no_gpu_causes(
            os.environ, nvidia_device_nodes(), torch.__version__, torch.version.cuda, init_error
        )
        report.add(
            "gpus",
            Status.FAIL,
            f"torch sees no CUDA device (expected {expected})",
            "likely causes: " + "; ".join(causes),
        )
        return False
    report.figures["gpus"] = count
    if count < expected:
        report.add(
            "gpus",
            Status.FAIL,
            f"torch sees {count} CUDA device(s), expected {expected}",
            f"request {expected} in resources.limits (gpu.count) or pass --expect-gpus {count}",
        )
    elif count > expected:
        report.add(
            "gpus",
            Status.WARN,
            f"torch sees {count} CUDA devices, expected {expected}",
            "the pod sees GPUs it did not request: check NVIDIA_VISIBLE_DEVICES / privileged mode",
        )
    else:
        report.add("gpus", Status.PASS, f"torch sees {count} CUDA device(s)")
    return True


def _check_stack(report: Report, torch: Any) -> None:
    driver = probe.kernel_driver_version() or "unknown (no /proc/driver/nvidia/version)"
    report.add("driver", Status.PASS, f"NVIDIA driver {driver}; CUDA runtime {torch.version.cuda}")
    if torch.backends.cudnn.is_available():
        report.add("cudnn", Status.PASS, f"cuDNN {torch.backends.cudnn.version()}")
    else:
        report.add(
            "cudnn",
            Status.FAIL,
            "cuDNN is not available to torch",
            "use a torch build that bundles cuDNN (the default CUDA wheels do)",
        )


def _check_device(report: Report, torch: Any, device: probe.Device, args: argparse.Namespace) -> None:
    tag = f"gpu{device.index}"
    label = f"{device.name} (cc {device.capability[0]}.{device.capability[1]}, {device.multiprocessors} SMs)"
    if device.capability < args.min_capability:
        report.add(
            f"{tag}-capability",
            Status.FAIL,
            f"{label} is below compute capability {args.min_capability[0]}.{args.min_capability[1]}",
            "schedule on newer GPUs (nodeSelector on nvidia.com/gpu.product)",
        )
    else:
        report.add(f"{tag}-capability", Status.PASS, label)
    free, total = device.free_bytes / GIB, device.total_bytes / GIB
    need, instances = memory_needed_gib(args), args.instances_per_gpu
    per_instance = f" = {instances} instances x {args.min_free_memory_gib:g}" if instances > 1 else ""
    memory = f"{free:.1f} GiB free of {total:.1f} GiB (needs {need:g}{per_instance})"
    if free < need:
        report.add(
            f"{tag}-memory",
            Status.FAIL,
            memory,
            "another process holds GPU memory (nvidia-smi on the node), or use a bigger GPU / MIG profile"
            + (", or run fewer model instances per GPU" if instances > 1 else ""),
        )
        return  # the products below would only add an out-of-memory error
    report.add(f"{tag}-memory", Status.PASS, memory)

    cuda = f"cuda:{device.index}"
    torch.cuda.set_device(device.index)
    half = probe.half_dtype(torch, device.index)
    with probe.full_precision_reductions(torch):
        fp32 = probe.matmul_check(torch, cuda, "float32", args.matmul_size, timed=False)
        lowp = probe.matmul_check(torch, cuda, half, args.matmul_size, timed=not args.skip_perf)
    for result in (fp32, lowp):
        detail = (
            f"{result.dtype} {result.size}^3: relative error {result.error:.2e} (bound {result.bound:.1e})"
            + ("; TF32 off: full fp32" if result.dtype == "float32" else "")
        )
        if result.correct:
            report.add(f"{tag}-matmul-{result.dtype.split()[0]}", Status.PASS, detail)
        else:
            report.add(
                f"{tag}-matmul-{result.dtype.split()[0]}",
                Status.FAIL,
                detail + ": wrong results",
                "the GPU computes wrong answers: drain the node and have the GPU checked (nvidia-smi -q "
                "for ECC/Xid errors; dcgmi diag -r 3)",
            )
    _check_speed(report, tag, device, lowp, args.skip_perf)
    torch.cuda.empty_cache()


def _check_speed(
    report: Report, tag: str, device: probe.Device, result: probe.MatmulResult, skip: bool
) -> None:
    if skip or result.tflops is None:
        report.add(f"{tag}-speed", Status.SKIP, "--skip-perf: speed not measured")
        return
    report.figures[f"{tag}_{result.dtype}_tflops"] = round(result.tflops, 1)
    model = floors.lookup(device.name)
    rate = f"{result.dtype} {result.size}^3 at {result.tflops:.1f} TFLOP/s"
    if model is None:
        report.add(
            f"{tag}-speed", Status.SKIP, f"{rate}; no reference figure for {device.name!r}: not judged"
        )
        return
    floor = floors.floor_tflops(model, device.multiprocessors)
    detail = (
        f"{rate}; floor {floor:.0f} = {floors.FLOOR_FRACTION:.0%} of {model.name}'s dense "
        f"{model.dense_half_tflops:g} x {device.multiprocessors}/{model.multiprocessors} SMs"
    )
    if result.tflops >= floor:
        report.add(f"{tag}-speed", Status.PASS, detail)
    else:
        report.add(
            f"{tag}-speed",
            Status.FAIL,
            detail + ": degraded GPU",
            "check clocks and throttling (nvidia-smi -q -d PERFORMANCE,CLOCK), other processes on the "
            "GPU, and power/thermal limits; drain the node if it persists",
        )
