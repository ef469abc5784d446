#!/usr/bin/env python3
"""Preflight against a mocked 5,000-node GPU cluster: wall time and peak memory of the real CLI.

The cluster (kmock, real HTTP on loopback) runs in this process; `glm-tts-hooks preflight` runs as a
subprocess with a kubeconfig, so its peak RSS (ru_maxrss of the child) is its own. Targets: under
2 s and 150 MB. Wall time is split into the interpreter + imports (`--help`) and the checks.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ → `harness`

from harness.kmock_cluster import cpu_node, gpu_node, pod, resource_quota, running_cluster, storage_class

NODES, GPU_SHARE = 5000, 0.8  # 4,000 GPU nodes, 1,000 CPU nodes
TARGET_S, TARGET_MB = 2.0, 150.0
# The CLI, reporting its own peak RSS on exit. VmHWM belongs to the process's address space since
# exec; ru_maxrss of children would also count the fork from this (large) benchmark process.
CLI = [
    sys.executable,
    "-c",
    (
        "import atexit, re, sys\n"
        "from glm_tts_hooks.cli import main\n"
        "peak = lambda: re.search(r'VmHWM.*', open('/proc/self/status').read())[0]\n"
        "atexit.register(lambda: print(peak(), file=sys.stderr))\n"
        "sys.exit(main())"
    ),
]


def build_cluster_objects() -> list[dict]:
    gpu_nodes = int(NODES * GPU_SHARE)
    objects = [
        gpu_node(f"gpu-{i:05d}", driver="470.256.02" if i % 10 == 0 else "550.127.05")
        for i in range(gpu_nodes)
    ]
    objects += [cpu_node(f"cpu-{i:05d}") for i in range(NODES - gpu_nodes)]
    # A busy cluster: one training pod holding 4 GPUs on each GPU node, plus finished jobs.
    objects += [pod(f"train-{i:05d}", "ml", f"gpu-{i:05d}", gpus=4) for i in range(gpu_nodes)]
    objects += [
        pod(f"done-{i:05d}", "ml", f"gpu-{i:05d}", gpus=8, phase="Succeeded") for i in range(0, gpu_nodes, 4)
    ]
    objects += [
        storage_class("gp3", default=True),
        resource_quota(
            "gpus", "glm-tts", {"requests.nvidia.com/gpu": "64"}, {"requests.nvidia.com/gpu": "8"}
        ),
    ]
    return objects


def timed_child(args: list[str]) -> tuple[float, float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", done.stderr)[1])
    return wall, cpu, peak_kb / 1024, done


def main() -> int:
    objects = build_cluster_objects()
    with running_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        cluster.add(*objects)
        kubeconfig = cluster.write_kubeconfig(Path(tmp) / "kubeconfig")
        startup_s, startup_cpu, startup_mb, _ = timed_child(["preflight", "--help"])
        wall, cpu, peak_mb, done = timed_child(
            [
                "preflight",
                "--namespace",
                "glm-tts",
                "--kubeconfig",
                str(kubeconfig),
                "--node-selector",
                "nvidia.com/gpu.present=true",
                "--toleration",
                "nvidia.com/gpu:NoSchedule",
                "--cuda-version",
                "12.4",
                "--replicas",
                "8",
                "--storage-class",
                "",
                "--output",
                "json",
            ]
        )
        list_requests = sum(1 for r in cluster.requests if r.params.get("limit"))
    if done.returncode not in (0, 1):
        print(done.stdout, done.stderr, file=sys.stderr)
        return 1
    report = json.loads(done.stdout)
    summary = report["summary"]
    assert summary["nodes_total"] == NODES, summary
    print(
        f"cluster: {NODES} nodes ({int(NODES * GPU_SHARE)} GPU), {summary['gpus_in_use']} GPUs requested by "
        f"running pods, {list_requests} paginated list requests"
    )
    print(f"verdict: ok={report['ok']}, " + ", ".join(f"{c['name']}={c['status']}" for c in report["checks"]))
    print(
        f"preflight wall time: {wall:.2f} s -> {wall / TARGET_S:.2f} x the {TARGET_S:g} s target "
        f"(interpreter + imports alone: {startup_s:.2f} s; includes the mock API server's time)"
    )
    print(f"preflight CPU time:  {cpu:.2f} s (imports alone: {startup_cpu:.2f} s)")
    print(
        f"preflight peak RSS:  {peak_mb:.0f} MB -> {peak_mb / TARGET_MB:.2f} x the {TARGET_MB:g} MB target "
        f"(after imports alone: {startup_mb:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
