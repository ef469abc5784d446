"""`glm-tts-hooks cuda-check`: no-GPU verdicts, the numerics and floors, and (on a GPU) a real run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from glm_tts_hooks.cuda_check import floors, numerics
from glm_tts_hooks.cuda_check.diagnosis import no_gpu_causes

from hooks.cli_runner import check, run_command

CLI = [sys.executable, "-c", "import sys; from glm_tts_hooks.cli import main; sys.exit(main())"]


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def run_cli(
    args: list[str], *, hide_torch: bool = False, env: dict[str, str] | None = None
) -> tuple[int, dict]:
    argv = list(CLI)
    if hide_torch:  # what an image without torch looks like to the import system
        argv[2] = "import sys; sys.modules['torch'] = None; " + argv[2]
    done = subprocess.run(
        [*argv, *args, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.stderr.count("Traceback") == 0, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_without_torch_exit_1_and_say_so() -> None:
    rc, report = run_cli(["cuda-check"], hide_torch=True)
    assert rc == 1
    row = check(report, "torch")
    assert row["status"] == "fail" and row["detail"].startswith("torch is not installed in this image")
    assert "glm-tts-hooks[cuda]" in row["fix"]


@pytest.mark.skipif(cuda_available(), reason="a GPU is visible: the no-GPU verdict cannot be observed")
def test_without_a_gpu_exit_1_with_the_likely_causes() -> None:
    pytest.importorskip("torch", reason="torch==2.13.0 (CPU) from requirements-test.txt is not installed")
    rc, report = run_cli(["cuda-check"], env={"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"})
    assert rc == 1
    row = check(report, "gpus")
    assert row["status"] == "fail" and row["detail"] == "torch sees no CUDA device (expected 1)"
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU" in row["fix"]
    assert "NVIDIA_VISIBLE_DEVICES='void'" in row["fix"]
    if "+cpu" in check(report, "torch")["detail"]:
        assert "CPU-only torch build" in row["fix"]


def test_no_gpu_causes_name_the_evidence() -> None:
    causes = no_gpu_causes(
        {"CUDA_VISIBLE_DEVICES": "-1"},
        [],
        "2.13.0+cu128",
        "12.8",
        "The NVIDIA driver on your system is too old (found version 11040).\nmore",
    )
    assert causes[0].startswith("CUDA_VISIBLE_DEVICES='-1' hides every GPU")
    assert "no GPU allocated to the pod: set resources.limits nvidia.com/gpu" in causes[1]
    assert causes[2].startswith("driver/runtime mismatch: The NVIDIA driver on your system is too old")
    assert "--cuda-version 12.8" in causes[2]
    generic = no_gpu_causes({}, ["/dev/nvidia0"], "2.13.0+cu128", "12.8", None)
    assert len(generic) == 4 and "resources.limits" in generic[0]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA H200 NVL", "H200 NVL"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10", "A10"),
        ("Tesla T4", "T4"),
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "H100 SXM"),
    ],
)
def test_floor_lookup_by_device_name(name: str, model: str) -> None:
    found = floors.lookup(name)
    assert found is not None and found.name == model


@pytest.mark.parametrize(
    "name", ["NVIDIA A10G", "NVIDIA L40", "Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 4090"]
)
def test_unknown_models_have_no_floor(name: str) -> None:
    assert floors.lookup(name) is None


def test_floor_is_a_fraction_of_the_datasheet_scaled_by_multiprocessors() -> None:
    h100 = floors.lookup("NVIDIA H100 80GB HBM3")
    assert h100 is not None
    assert floors.floor_tflops(h100, 132) == pytest.approx(989.5 * floors.FLOOR_FRACTION)
    assert floors.floor_tflops(h100, 16) == pytest.approx(989.5 * 16 / 132 * floors.FLOOR_FRACTION)  # MIG 1g
    assert floors.floor_tflops(h100, 0) == floors.floor_tflops(h100, 132)


def test_error_bounds_per_dtype() -> None:
    k = 4096
    assert numerics.error_bound("float32", k) == pytest.approx(4 * (2**-24 + 64 * 2**-24))
    assert numerics.error_bound("float32", k, tf32=True) == pytest.approx(4 * (2**-11 + 64 * 2**-24))
    assert (
        numerics.error_bound("bfloat16", k)
        > numerics.error_bound("float16", k)
        > numerics.error_bound("float32", k)
    )
    with pytest.raises(ValueError, match="no error model"):
        numerics.error_bound("int8", k)


def test_relative_error_flags_nan_and_corruption() -> None:
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((64, 512))
    assert numerics.relative_error(reference, reference) == 0.0
    broken = reference.copy()
    broken[3, 7] = np.nan
    assert numerics.relative_error(broken, reference) == math.inf
    flipped = reference.copy()
    flipped[10, 10] *= 2**8  # one exponent bit flipped
    assert numerics.relative_error(flipped, reference) > numerics.error_bound("bfloat16", 512)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_correct_arithmetic_stays_inside_the_bound(dtype: str) -> None:
    """The same check the GPU gets, run by torch on the CPU: correct results must pass."""
    torch = pytest.importorskip(
        "torch", reason="torch==2.13.0 (CPU) from requirements-test.txt is not installed"
    )
    from glm_tts_hooks.cuda_check.probe import matmul_check

    result = matmul_check(torch, "cpu", dtype, 256, timed=False)
    assert result.correct, result
    assert result.error < result.bound / 4  # with room to spare, or the bound is too tight
    assert result.tflops is None


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_check_on_a_real_gpu() -> None:
    from glm_tts_hooks.cuda_check import command

    rc, report = run_command(command, ["cuda-check", "--min-free-memory-gib", "1"])
    assert rc == 0, report
    assert check(report, "gpu0-matmul-float32")["status"] == "pass"
    assert any(key.endswith("_tflops") for key in report["summary"])


@pytest.mark.parametrize(
    "text",
    [
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.127.05  Tue Oct  8 03:22:07 UTC 2024\n",
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.127.05  Release Build\n",
    ],
)
def test_kernel_driver_version_from_proc(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from glm_tts_hooks.cuda_check import probe

    version_file = tmp_path / "version"
    version_file.write_text(text + "GCC version:  gcc version 12.3.0\n")
    monkeypatch.setattr(probe, "DRIVER_VERSION_FILE", version_file)
    assert probe.kernel_driver_version() == "550.127.05"
    monkeypatch.setattr(probe, "DRIVER_VERSION_FILE", tmp_path / "absent")
    assert probe.kernel_driver_version() is None
