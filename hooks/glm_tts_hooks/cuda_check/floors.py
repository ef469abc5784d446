"""What each known GPU model should reach on a large half-precision matrix product.

Dense (no sparsity) tensor-core TFLOP/s from NVIDIA's datasheets, BF16 where the GPU has it
(FP16 on Turing). Datasheets print the sparse figure first; these are half of it.
  H100 SXM5 989.5, H100 PCIe 756, H100 NVL 835.5: "NVIDIA H100 Tensor Core GPU" datasheet (2023)
  H200 SXM 989.5, H200 NVL 835.5: "NVIDIA H200 Tensor Core GPU" datasheet (2024)
  A100 40/80 GB, SXM and PCIe, 312: "NVIDIA A100 Tensor Core GPU" datasheet (2021)
  L40S 362.05: "NVIDIA L40S" datasheet (2023)
  L4 121: "NVIDIA L4 Tensor Core GPU" datasheet (2023)
  A10 125: "NVIDIA A10 Tensor Core GPU" datasheet (2021)
  T4 65 (FP16 mixed precision): "NVIDIA T4 Tensor Core GPU" datasheet (2019)
Multiprocessor counts are the full chips' (whitepapers); a MIG slice or a cut-down part has fewer,
and the expected rate scales with them.

A healthy GPU reaches roughly 50-80 % of the dense figure on a 4096^3 product. FLOOR_FRACTION is
well below that, so only a degraded GPU trips it: clocks stuck low by power or thermal limits, a
GPU shared with another busy process, retired-page storms, or a misreported part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FLOOR_FRACTION = 0.30


@dataclass(frozen=True)
class GpuModel:
    name: str
    dense_half_tflops: float
    multiprocessors: int


# First match wins: the specific variants (NVL, PCIe) come before the family's default (SXM).
_MODELS: tuple[tuple[re.Pattern[str], GpuModel], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), model)
    for pattern, model in (
        (r"\bH100\b.*\bNVL\b", GpuModel("H100 NVL", 835.5, 132)),
        (r"\bH100\b.*\bPCIe\b", GpuModel("H100 PCIe", 756.0, 114)),
        (r"\bH100\b", GpuModel("H100 SXM", 989.5, 132)),
        (r"\bH200\b.*\bNVL\b", GpuModel("H200 NVL", 835.5, 132)),
        (r"\bH200\b", GpuModel("H200 SXM", 989.5, 132)),
        (r"\bA100\b", GpuModel("A100", 312.0, 108)),
        (r"\bL40S\b", GpuModel("L40S", 362.05, 142)),
        (r"\bL4\b", GpuModel("L4", 121.0, 58)),
        (r"\bA10\b", GpuModel("A10", 125.0, 72)),
        (r"\bT4\b", GpuModel("T4", 65.0, 40)),
    )
)


def lookup(device_name: str) -> GpuModel | None:
    for pattern, model in _MODELS:
        if pattern.search(device_name):
            return model
    return None


def floor_tflops(model: GpuModel, multiprocessors: int) -> float:
    """The slowest rate a healthy device with this many multiprocessors should show."""
    share = min(1.0, multiprocessors / model.multiprocessors) if multiprocessors > 0 else 1.0
    return model.dense_half_tflops * share * FLOOR_FRACTION
