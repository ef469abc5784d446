"""Helpers for the batch tests and the benchmark: sample JSONL, the three batch Tasks run as Tekton would."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from task_steps import StepRun, run_step, task

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Speech synthesis turns written text into sound.",
    "Kubernetes schedules the service onto a GPU node.",
    "Every image is pinned by its digest.",
    "A push to main reaches a verified deployment.",
    "Batch jobs are split into shards and fanned out.",
]


def sine_wav(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / rate)))
            for i in range(int(seconds * rate))
        )
        wav.writeframes(frames)
    return buf.getvalue()


def write_batch(
    workspace: Path, count: int, *, with_prompt: bool = False, name: str = "batch.jsonl", sentences: int = 1
) -> list[str]:
    """An upstream-format batch file; returns the uttids in order."""
    lines, uttids = [], []
    if with_prompt:
        (workspace / "prompts").mkdir(exist_ok=True)
        (workspace / "prompts" / "ref.wav").write_bytes(sine_wav(seconds=4.0))
    for i in range(count):
        uttid = f"utt-{i:04d}"
        uttids.append(uttid)
        text = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(sentences)) + f" Line {i}."
        line: dict[str, Any] = {"uttid": uttid, "prompt_text": "", "prompt_speech": "", "syn_text": text}
        if with_prompt:
            line.update(prompt_text="A reference voice.", prompt_speech="prompts/ref.wav")
        lines.append(json.dumps(line))
    (workspace / name).write_text("\n".join(lines) + "\n")
    return uttids


def plan(
    workspace: Path,
    tmp: Path,
    *,
    shards: int,
    input_name: str = "batch.jsonl",
    output_dir: str = "batch-out",
    max_result_bytes: str = "3500",
) -> StepRun:
    (step,) = task("glm-tts-batch-plan")["spec"]["steps"]
    params = {
        "INPUT": input_name,
        "SHARDS": str(shards),
        "OUTPUT_DIR": output_dir,
        "MAX_RESULT_BYTES": max_result_bytes,
    }
    return run_step(step, params=params, workspaces={"data": workspace}, results_dir=tmp / "plan-results")


def synthesize(
    workspace: Path,
    tmp: Path,
    shard: str,
    url: str,
    *,
    concurrency: int = 4,
    output_dir: str = "batch-out",
    api_key_dir: Path | None = None,
    **extra: str,
) -> StepRun:
    (step,) = task("glm-tts-batch-synthesize")["spec"]["steps"]
    params = {
        "SHARD": shard,
        "SERVICE_URL": url,
        "OUTPUT_DIR": output_dir,
        "CONCURRENCY": str(concurrency),
        "MAX_ATTEMPTS": "8",
        "RETRY_AFTER_MAX": "60",
        "REQUEST_TIMEOUT": "120",
        "VOICE": "",
        "SEED": "",
        "API_KEY_FILE": "api-key",
        "FAIL_ON_ERROR": "false",
    }
    params.update(extra)
    name = Path(shard).stem
    return run_step(
        step,
        params=params,
        workspaces={"data": workspace, "api-key": api_key_dir},
        results_dir=tmp / f"synth-{name}-results",
    )


def gather(
    workspace: Path,
    tmp: Path,
    shards: list[str],
    *,
    input_name: str = "batch.jsonl",
    output_dir: str = "batch-out",
    fail_on_error: str = "false",
) -> StepRun:
    (step,) = task("glm-tts-batch-gather")["spec"]["steps"]
    params = {"INPUT": input_name, "OUTPUT_DIR": output_dir, "FAIL_ON_ERROR": fail_on_error}
    return run_step(
        step,
        params=params,
        array_params={"SHARDS": shards},
        workspaces={"data": workspace},
        results_dir=tmp / "gather-results",
    )


def run_batch(
    workspace: Path, tmp: Path, url: str | list[str], *, shards: int, concurrency: int = 4
) -> dict[str, Any]:
    """plan → synthesize every shard in parallel (what the matrix does) → gather.

    With several URLs (service replicas), shard i talks to replica i mod n, the way a Service
    spreads the shards' connections over its pods.
    """
    urls = [url] if isinstance(url, str) else list(url)
    started = time.perf_counter()
    planned = plan(workspace, tmp, shards=shards)
    assert planned.returncode == 0, planned.stderr
    shard_paths = planned.results["SHARDS"]
    jobs = [(s, urls[i % len(urls)]) for i, s in enumerate(shard_paths)]
    planned_at = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(shard_paths)) as pool:
        runs = list(pool.map(lambda j: synthesize(workspace, tmp, j[0], j[1], concurrency=concurrency), jobs))
    synthesized_at = time.perf_counter()
    for run in runs:
        assert run.returncode == 0, run.stderr
    gathered = gather(workspace, tmp, shard_paths)
    seconds = {
        "plan": planned_at - started,
        "synthesize": synthesized_at - planned_at,
        "gather": time.perf_counter() - synthesized_at,
    }
    return {"plan": planned, "synth": runs, "gather": gathered, "seconds": seconds}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_available() -> str | None:
    """Why the espeak service cannot be started here, or None when it can."""
    try:
        import glm_tts_server  # noqa: F401
    except ImportError:
        return "glm_tts_server is not installed in this environment"
    exe = Path(sys.executable).parent / "glm-tts-server"
    if not exe.exists():
        return f"{exe} is absent (inference package not installed)"
    return None


@contextmanager
def espeak_service(
    data_dir: Path,
    *,
    workers: int | None = None,
    extra_env: dict[str, str] | None = None,
    startup_timeout: float = 90,
) -> Iterator[str]:
    """Run `glm-tts-server serve` with the espeak backend on a free loopback port; yield its URL."""
    import httpx

    port = free_port()
    env = dict(
        os.environ,
        GLMTTS_BACKEND="espeak",
        GLMTTS_HOST="127.0.0.1",
        GLMTTS_PORT=str(port),
        GLMTTS_DATA_DIR=str(data_dir),
    )
    if workers:
        env["GLMTTS_WORKERS"] = str(workers)
    env.update(extra_env or {})
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "glm-tts-server"), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"glm-tts-server exited {proc.returncode}: "
                    f"{(data_dir / 'server.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"glm-tts-server not ready after {startup_timeout} s: "
                    f"{(data_dir / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
