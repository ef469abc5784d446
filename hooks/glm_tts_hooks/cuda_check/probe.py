"""The torch side of cuda-check: what the devices are, and one checked, timed matrix product each.

torch is imported by the caller and passed in, so this module imports without it.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glm_tts_hooks.cuda_check.numerics import error_bound, relative_error

REFERENCE_ROWS = 64  # rows of C checked against float64: the full product costs a CPU seconds
TIMED_SECONDS = 0.05  # long enough to swamp launch overhead, short enough for the 15 s budget
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    capability: tuple[int, int]
    multiprocessors: int
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class MatmulResult:
    dtype: str
    size: int
    error: float
    bound: float
    tflops: float | None  # None when not timed

    @property
    def correct(self) -> bool:
        return self.error <= self.bound


def devices(torch: Any) -> list[Device]:
    found = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        found.append(
            Device(
                index,
                props.name,
                (props.major, props.minor),
                props.multi_processor_count,
                int(total),
                int(free),
            )
        )
    return found


def kernel_driver_version() -> str | None:
    """The NVIDIA kernel module's version, as the container sees it (no NVML needed)."""
    try:
        text = DRIVER_VERSION_FILE.read_text()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def half_dtype(torch: Any, index: int) -> str:
    """bf16 where the tensor cores have it (Ampere and newer), fp16 on Turing and Volta."""
    try:
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # older torch: no emulation argument
        native = torch.cuda.get_device_capability(index)[0] >= 8
    return "bfloat16" if native else "float16"


@contextlib.contextmanager
def full_precision_reductions(torch: Any) -> Any:
    """Accumulate half-precision products in fp32 (no split-K in half), so the error model holds."""
    matmul = torch.backends.cuda.matmul
    saved = (matmul.allow_fp16_reduced_precision_reduction, matmul.allow_bf16_reduced_precision_reduction)
    matmul.allow_fp16_reduced_precision_reduction = False
    matmul.allow_bf16_reduced_precision_reduction = False
    try:
        yield
    finally:
        matmul.allow_fp16_reduced_precision_reduction, matmul.allow_bf16_reduced_precision_reduction = saved


def matmul_check(
    torch: Any, device: str, dtype_name: str, size: int, timed: bool, seed: int = 0
) -> MatmulResult:
    """C = A @ B on `device` in `dtype_name`; sampled rows compared with float64 on the CPU, and the
    rate timed with CUDA events when asked."""
    dtype = getattr(torch, dtype_name)
    generator = torch.Generator(device=device).manual_seed(seed)
    a = torch.randn(size, size, device=device, dtype=torch.float32, generator=generator).to(dtype)
    b = torch.randn(size, size, device=device, dtype=torch.float32, generator=generator).to(dtype)
    c = torch.mm(a, b)
    rows = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:REFERENCE_ROWS]
    reference = a[rows.to(device)].double().cpu().numpy() @ b.double().cpu().numpy()
    error = relative_error(c[rows.to(device)].double().cpu().numpy(), reference)
    tf32 = (
        dtype_name == "float32" and device.startswith("cuda") and bool(torch.backends.cuda.matmul.allow_tf32)
    )
    bound = error_bound(dtype_name, size, tf32=tf32)
    tflops = _time_matmul(torch, a, b, c) if timed and device.startswith("cuda") else None
    return MatmulResult(dtype_name if not tf32 else "float32 (TF32)", size, error, bound, tflops)


def _time_matmul(torch: Any, a: Any, b: Any, c: Any) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(2):  # warm-up: cuBLAS heuristics, clocks ramping up
        torch.mm(a, b, out=c)
    start.record()
    torch.mm(a, b, out=c)
    end.record()
    end.synchronize()
    one = max(start.elapsed_time(end) / 1000, 1e-6)
    iterations = max(5, min(500, math.ceil(TIMED_SECONDS / one)))
    start.record()
    for _ in range(iterations):
        torch.mm(a, b, out=c)
    end.record()
    end.synchronize()
    seconds = start.elapsed_time(end) / 1000
    n = a.shape[0]
    return 2 * n**3 * iterations / seconds / 1e12
