"""How far a GPU matrix product may stray from a float64 reference, by dtype.

Measured as the normwise relative error ||C - R||_F / ||R||_F over sampled rows. Random inputs
make the rounding errors add like a random walk, so the error of correct arithmetic is about:
  - one unit roundoff u of the inputs/outputs' format (inputs rounded to TF32 when TF32 is on,
    results rounded to bf16/fp16), where u = 2^-(mantissa bits + 1), and
  - sqrt(k) * u_fp32 from accumulating k products in fp32 (cuBLAS accumulates half types in fp32
    when reduced-precision reductions are off, as cuda-check sets them).
The bound is 4x the first plus 4x the second: a correct GPU sits 5-10x below it, while a bit
flip, a broken tensor core or garbage memory lands orders of magnitude above (or at NaN).
"""

from __future__ import annotations

import math

import numpy as np

UNIT_ROUNDOFF = {
    "float32": 2.0**-24,
    "tf32": 2.0**-11,  # 10 explicit mantissa bits
    "bfloat16": 2.0**-8,  # 7 explicit mantissa bits
    "float16": 2.0**-11,  # 10 explicit mantissa bits
}
SAFETY = 4.0


def error_bound(dtype: str, k: int, tf32: bool = False) -> float:
    if dtype not in UNIT_ROUNDOFF:
        raise ValueError(f"no error model for {dtype!r}; known: {', '.join(UNIT_ROUNDOFF)}")
    rounding = UNIT_ROUNDOFF["tf32" if dtype == "float32" and tf32 else dtype]
    accumulation = math.sqrt(k) * UNIT_ROUNDOFF["float32"]
    return SAFETY * (rounding + accumulation)


def relative_error(result: np.ndarray, reference: np.ndarray) -> float:
    """Normwise relative error; inf when the result holds NaN/inf (a broken GPU's favourite)."""
    result = np.asarray(result, dtype=np.float64)
    if not np.all(np.isfinite(result)):
        return math.inf
    denominator = float(np.linalg.norm(reference))
    return float(np.linalg.norm(result - reference)) / (denominator if denominator > 0 else 1.0)
