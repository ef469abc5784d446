#!/usr/bin/env python3
"""Preflight against a mocked 5,000-node GPU cluster: the whole CLI process, start-up included.

The cluster (kmock, real HTTP on loopback) runs in this process; `glm-tts-hooks preflight` runs as a
subprocess with a kubeconfig, exactly as a Helm hook Job or a Tekton step starts it. Targets (issue:
"preflight starts fast"): the whole process under 1.0 s and 100 MB. Figures:
- wall: from spawning the process to its exit (interpreter start-up, imports, API calls, output);
  it includes waiting for the mock API server, whose own CPU time is printed beside it;
- phases inside the process: interpreter start-up, imports (the CLI and every module the
  preflight run loads, the Kubernetes client included), then parsing, the checks and the report;
- CPU (user+sys) and peak RSS (VmHWM) of the CLI process alone;
- the import-time breakdown by top-level package (python -X importtime).
The machine is shared, so each figure is the median of RUNS runs, with the best beside it.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ → `harness`

from harness.kmock_cluster import cpu_node, gpu_node, pod, resource_quota, running_cluster, storage_class

NODES, GPU_SHARE = 5000, 0.8  # 4,000 GPU nodes, 1,000 CPU nodes
TARGET_S, TARGET_MB = 1.0, 100.0
RUNS = 3
# What `preflight` loads besides the CLI itself; imported before main() so the phases separate.
# The kubeconfig loader is among them because this run uses a kubeconfig (in a pod it is not loaded).
PREFLIGHT_MODULES = "glm_tts_hooks.kube, glm_tts_hooks.preflight.checks, kubernetes.config.kube_config"
# The CLI, reporting its phase clock and peak RSS on exit. VmHWM belongs to the process's address
# space since exec; ru_maxrss of children would also count the fork from this (large) process.
CLI = [
    sys.executable,
    "-c",
    (
        "import time; started = time.time()\n"
        "import atexit, json, re, sys\n"
        "from glm_tts_hooks.cli import main\n"
        f"import {PREFLIGHT_MODULES}\n"
        "imported = time.time()\n"
        "def report():\n"
        "    peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())[1]\n"
        "    print('BENCH ' + json.dumps({'started': started, 'imported': imported, 'ended': time.time(),"
        " 'peak_kb': int(peak)}), file=sys.stderr)\n"
        "atexit.register(report)\n"
        "sys.exit(main())"
    ),
]
ARGS = [
    "preflight",
    "--namespace",
    "glm-tts",
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


def timed_run(args: list[str]) -> tuple[dict[str, float], subprocess.CompletedProcess]:
    """One CLI run: wall, phases, CPU of the CLI and of this process (the mock API server)."""
    children0, self0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    spawned = time.time()
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    children1, self1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    marks = json.loads(re.search(r"^BENCH (.*)$", done.stderr, re.M)[1])
    figures = {
        "wall": wall,
        "startup": marks["started"] - spawned,
        "imports": marks["imported"] - marks["started"],
        "run": marks["ended"] - marks["imported"],
        "cpu": (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime),
        "server_cpu": (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime),
        "rss_mb": marks["peak_kb"] / 1024,
    }
    return figures, done


def import_breakdown() -> list[tuple[str, float]]:
    """Self import time per top-level package for what a preflight run loads, in seconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import glm_tts_hooks.cli, {PREFLIGHT_MODULES}"],
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            totals[match[2].split(".")[0]] += int(match[1]) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])


def run_series(kubeconfig: Path, output: str) -> tuple[dict[str, list[float]], dict]:
    series: dict[str, list[float]] = defaultdict(list)
    report: dict = {}
    for _ in range(RUNS):
        figures, done = timed_run([*ARGS, "--kubeconfig", str(kubeconfig), "--output", output])
        if done.returncode not in (0, 1):
            raise SystemExit(f"preflight failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        if output == "json":
            report = json.loads(done.stdout)
        for key, value in figures.items():
            series[key].append(value)
    return series, report


def line(series: dict[str, list[float]], key: str, unit: str = "s") -> str:
    values = series[key]
    return f"{statistics.median(values):.2f} {unit} (best {min(values):.2f})"


def main() -> int:
    objects = build_cluster_objects()
    with running_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        cluster.add(*objects)
        kubeconfig = cluster.write_kubeconfig(Path(tmp) / "kubeconfig")
        series, report = run_series(kubeconfig, "json")
        table, _ = run_series(kubeconfig, "table")
        list_requests = sum(1 for r in cluster.requests if r.params.get("limit")) // (2 * RUNS)
    summary = report["summary"]
    assert summary["nodes_total"] == NODES, summary
    wall, rss = statistics.median(series["wall"]), statistics.median(series["rss_mb"])
    print(
        f"cluster: {NODES} nodes ({int(NODES * GPU_SHARE)} GPU), {summary['gpus_in_use']} GPUs requested by "
        f"running pods, {list_requests} paginated list requests per run; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"verdict: ok={report['ok']}, " + ", ".join(f"{c['name']}={c['status']}" for c in report["checks"]))
    print(
        f"preflight whole process (start-up included), --output json: {wall:.2f} s -> "
        f"{wall / TARGET_S:.2f} x the {TARGET_S:g} s target (best {min(series['wall']):.2f} s)"
    )
    print(
        f"  phases: interpreter start-up {line(series, 'startup')}, imports {line(series, 'imports')}, "
        f"parse + checks + report {line(series, 'run')}"
    )
    print(
        f"  CPU of the CLI process {line(series, 'cpu')}; the mock API server's CPU meanwhile "
        f"{line(series, 'server_cpu')}"
    )
    print(
        f"preflight peak RSS: {rss:.0f} MB -> {rss / TARGET_MB:.2f} x the {TARGET_MB:g} MB target "
        f"(max {max(series['rss_mb']):.0f} MB)"
    )
    print(
        f"same run with --output table (rich): wall {line(table, 'wall')}, CPU {line(table, 'cpu')}, "
        f"RSS {statistics.median(table['rss_mb']):.0f} MB"
    )
    top = import_breakdown()
    print(
        "import time by package (self, s): "
        + ", ".join(f"{name} {seconds:.3f}" for name, seconds in top[:10])
        + f"; total {sum(s for _, s in top):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
