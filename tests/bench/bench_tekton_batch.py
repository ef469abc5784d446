#!/usr/bin/env python3
"""Batch synthesis through the Tekton step scripts: 1 shard vs 4 shards against a local espeak service.

The same plan → synthesize → gather scripts the glm-tts-batch Pipeline runs are taken out of the Task
YAML and run locally; the 4 shards run at once, as the matrix runs them. Each shard keeps one request
in flight (CONCURRENCY=1), so the speedup measures the shard fan-out alone.

The espeak backend serialises synthesis inside one process (eSpeak NG has global state), so one
server process cannot use parallel shards. As in a cluster, the service runs as REPLICAS processes
(one per CPU core here, GLMTTS_WORKERS=2 each) and the shards' connections are spread over them
(shard i → replica i mod REPLICAS, what a Service does with the shards' pods). 1 shard with one
request in flight keeps one replica busy; 4 shards keep all of them busy. Each configuration is run
ROUNDS times, interleaved, and the median is reported.

Outputs are compared per uttid. eSpeak NG is not bit-for-bit deterministic through this service (two
identical requests differ a little), so a second 1-shard run is the baseline: differences between 1
and 4 shards are reported next to the run-to-run differences of the service itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tekton")]

from batch_pipeline import espeak_service, run_batch, server_available, write_batch  # noqa: E402

LINES = 120
REPLICAS = max(2, min(4, os.cpu_count() or 2))
WORKERS = 2
ROUNDS = 5
SENTENCES_PER_LINE = int(os.environ.get("BENCH_SENTENCES_PER_LINE", "4"))


def run(root: Path, url: str | list[str], name: str, shards: int) -> tuple[float, float, dict[str, dict]]:
    ws = root / name
    ws.mkdir()
    write_batch(ws, LINES, sentences=SENTENCES_PER_LINE)
    started = time.perf_counter()
    out = run_batch(ws, root / f"{name}-tmp", url, shards=shards, concurrency=1)
    elapsed = time.perf_counter() - started
    if out["gather"].returncode != 0:
        raise RuntimeError(f"gather failed for {name}: {out['gather'].stderr}")
    summary = out["gather"].results["SUMMARY"]
    if summary["ok"] != LINES:
        raise RuntimeError(f"{name}: only {summary['ok']} of {LINES} lines synthesised: {summary}")
    records = {}
    for line in (ws / "batch-out" / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        record["audio"] = (ws / record["wav"]).read_bytes()
        records[record["uttid"]] = record
    return elapsed, out["seconds"]["synthesize"], records


def pcm(data: bytes) -> bytes:
    import io

    with wave.open(io.BytesIO(data)) as wav:
        return wav.readframes(wav.getnframes())


def compare(a: dict[str, dict], b: dict[str, dict]) -> dict[str, object]:
    same_ids = set(a) == set(b)
    identical = sum(a[u]["sha256"] == b[u]["sha256"] for u in a if u in b)
    dur_ms = [abs(a[u]["duration"] - b[u]["duration"]) * 1000 for u in a if u in b]
    size = [abs(a[u]["bytes"] - b[u]["bytes"]) for u in a if u in b]
    return {
        "same uttids": same_ids,
        "identical audio": f"{identical}/{len(a)}",
        "duration diff ms (median/max)": f"{statistics.median(dur_ms):.1f}/{max(dur_ms):.1f}",
        "size diff bytes (median/max)": f"{statistics.median(size):.0f}/{max(size):.0f}",
        "identical PCM length": sum(len(pcm(a[u]["audio"])) == len(pcm(b[u]["audio"])) for u in a if u in b),
    }


def main() -> int:
    reason = server_available()
    if reason:
        print(f"bench_tekton_batch: skipped ({reason})")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-tekton-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        urls = []
        for i in range(REPLICAS):
            data = root / f"replica-{i}"
            data.mkdir()
            urls.append(
                stack.enter_context(
                    espeak_service(data, workers=WORKERS, extra_env={"GLMTTS_QUEUE_SIZE": "32"})
                )
            )
        run(root, urls, "warmup", 4)  # first syntheses load voices; not timed
        times: dict[int, list[float]] = {1: [], 4: []}
        synth: dict[int, list[float]] = {1: [], 4: []}
        outputs: dict[int, list[dict]] = {1: [], 4: []}
        for r in range(ROUNDS):
            for shards in (1, 4):
                elapsed, synth_s, records = run(root, urls, f"r{r}-s{shards}", shards)
                times[shards].append(elapsed)
                synth[shards].append(synth_s)
                outputs[shards].append(records)
    load = os.getloadavg()[0]
    t1, t4 = statistics.median(times[1]), statistics.median(times[4])
    audio_s = sum(r["duration"] for r in outputs[1][0].values())
    print(
        f"service: espeak backend, {REPLICAS} replicas x GLMTTS_WORKERS={WORKERS}, queue 32; "
        f"{os.cpu_count()} CPU cores, load average {load:.1f} after the runs (other work shares them)"
    )
    print(
        f"batch: {LINES} lines of {SENTENCES_PER_LINE} sentences, {audio_s:.1f} s of audio; "
        f"CONCURRENCY=1 per shard; {ROUNDS} rounds"
    )
    for shards, median in ((1, t1), (4, t4)):
        runs = [round(t, 2) for t in times[shards]]
        print(f"{shards} shard(s): median {median:6.2f} s  ({LINES / median:5.1f} lines/s)  runs {runs}")
    s1, s4 = statistics.median(synth[1]), statistics.median(synth[4])
    print(
        f"speedup 4 vs 1 shard: {t1 / t4:.2f}x end to end (plan + synthesize + gather); "
        f"synthesize phase alone {s1:.2f} s -> {s4:.2f} s = {s1 / s4:.2f}x"
    )
    print("outputs 1 vs 4 shards:       " + json.dumps(compare(outputs[1][0], outputs[4][0])))
    print("outputs 1 vs 1 (run to run): " + json.dumps(compare(outputs[1][0], outputs[1][1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
