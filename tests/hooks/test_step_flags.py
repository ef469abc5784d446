"""The flags thin Tekton steps and chart Jobs pass straight through: empty = unset, list flags that
take an expanded array param, booleans with a value, and the --summary-file Task result."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import pytest
from glm_tts_hooks.cli import build_parser
from glm_tts_hooks.cuda_check import checks as cuda_checks
from glm_tts_hooks.cuda_check.probe import Device
from glm_tts_hooks.preflight.command import options_from_args
from glm_tts_hooks.report import SUMMARY_MAX_BYTES, Report, Status, emit_args, short_summary

GIB = 1024**3


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_empty_values_mean_not_given() -> None:
    args = parse(
        "preflight",
        "--namespace=glm-tts",
        "--runtime-class=",
        "--cuda-version",
        "",
        "--pvc=",
        "--gpu-count=",
        "--replicas",
        "",
        "--release-selector=",
        "--surge=",
        "--summary-file=",
        "--kubeconfig=",
        "--request-timeout=",
    )
    options = options_from_args(args)
    assert options.runtime_class is None and options.cuda_version is None and options.pvc is None
    assert (options.gpu_count, options.replicas, options.surge) == (1, 1, 0)
    assert options.release_selector is None and args.summary_file is None
    assert args.kubeconfig is None and args.request_timeout == 10.0
    assert options.storage_class is None  # no --storage-class at all: no storage check


def test_storage_class_empty_still_means_the_cluster_default_and_a_pvc_wins() -> None:
    assert options_from_args(parse("preflight", "--namespace=n", "--storage-class=")).storage_class == ""
    options = options_from_args(parse("preflight", "--namespace=n", "--storage-class=", "--pvc=models"))
    assert options.pvc == "models" and options.storage_class is None
    with pytest.raises(ValueError, match="give one"):
        options_from_args(parse("preflight", "--namespace=n", "--storage-class=fast", "--pvc=models"))


def test_list_flags_take_an_expanded_array_param_and_repeat() -> None:
    # What `--toleration $(params.TOLERATIONS[*])` becomes for a 2-element and an empty array.
    args = parse(
        "preflight",
        "--namespace=n",
        "--toleration",
        "nvidia.com/gpu:NoSchedule",
        "",
        "dedicated=gpu:NoExecute",
        "--node-selector",
        "--toleration=pool:",
        "--fail-on-warning",
        "false",
    )
    options = options_from_args(args)
    assert [t.key for t in options.tolerations] == ["nvidia.com/gpu", "dedicated", "pool"]
    assert options.node_selector == {} and args.fail_on_warning is False


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("true", True), ("True", True), ("false", False), ("", False)]
)
def test_booleans_take_a_value_so_a_param_passes_through(value: str | None, expected: bool) -> None:
    flag = ["--node-autoscaler"] if value is None else [f"--node-autoscaler={value}"]
    assert options_from_args(parse("preflight", "--namespace=n", *flag)).node_autoscaler is expected


def test_a_bad_boolean_or_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse("preflight", "--namespace=n", "--fail-on-warning=maybe")
    assert exc.value.code == 2 and "'maybe' is not true or false" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("cuda-check", "--instances-per-gpu=0")
    assert "must be at least 1" in capsys.readouterr().err


def test_summary_file_is_a_short_task_result(tmp_path: Path) -> None:
    report = Report()
    report.add("api", Status.PASS, "answers")
    report.add("gpu-driver", Status.WARN, "old")
    report.add("gpu-capacity", Status.FAIL, "full", "add nodes")
    args = argparse.Namespace(output="json", summary_file=tmp_path / "SUMMARY", fail_on_warning=False)
    assert emit_args(report, args, title="t") == 1
    summary = json.loads((tmp_path / "SUMMARY").read_text())
    assert summary == {
        "ok": False,
        "exit": 1,
        "error": None,
        "failed": ["gpu-capacity"],
        "warnings": ["gpu-driver"],
        "counts": {"pass": 1, "warn": 1, "fail": 1, "skip": 0},
    }


def test_summary_stays_under_the_result_budget() -> None:
    report = Report(error="x" * 5000)
    for i in range(300):
        report.add(f"check-number-{i}", Status.FAIL, "detail")
    summary = short_summary(report, 2)
    encoded = json.dumps(summary, separators=(",", ":")).encode()
    assert len(encoded) <= SUMMARY_MAX_BYTES and summary["truncated"] is True
    assert summary["counts"]["fail"] == 300 and len(summary["error"]) == 300


def test_an_unwritable_summary_file_is_a_usage_error(tmp_path: Path) -> None:
    args = argparse.Namespace(output="json", summary_file=tmp_path / "absent" / "SUMMARY")
    assert emit_args(Report(), args, title="t") == 2


@pytest.mark.parametrize(("instances", "status"), [(1, "pass"), (2, "pass"), (3, "fail")])
def test_cuda_check_needs_free_memory_for_every_instance(instances: int, status: str) -> None:
    """20 GiB free, 9 GiB per instance: two instances fit, three do not."""
    args = parse("cuda-check", "--min-free-memory-gib=9", f"--instances-per-gpu={instances}")
    device = Device(0, "NVIDIA L4", (8, 9), 58, total_bytes=24 * GIB, free_bytes=20 * GIB)
    report = Report()

    class NoGpuWork:  # the memory verdict comes before any GPU work; stop there
        class cuda:  # torch's own name
            @staticmethod
            def set_device(index: int) -> None:
                raise StopIteration

    with pytest.raises(StopIteration) if status == "pass" else contextlib.nullcontext():
        cuda_checks._check_device(report, NoGpuWork, device, args)
    row = next(c for c in report.checks if c.name == "gpu0-memory")
    assert row.status.value == status
    if instances > 1:
        assert f"{instances} instances x 9" in row.detail


def test_output_format_is_checked_and_empty_means_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse("cuda-check", "--output=").output == "table"
    with pytest.raises(SystemExit):
        parse("cuda-check", "--output=yaml")
    assert "choose table or json" in capsys.readouterr().err
