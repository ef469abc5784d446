"""The batch and verify step scripts against the real service: `glm-tts-server serve` with the espeak
backend on a loopback port (started per test module, stopped with SIGTERM)."""

from __future__ import annotations

import hashlib
import json
import wave
from pathlib import Path

import pytest
from batch_pipeline import (
    espeak_service,
    gather,
    plan,
    run_batch,
    server_available,
    sine_wav,
    synthesize,
    write_batch,
)
from task_steps import run_step, task

pytestmark = pytest.mark.slow

REASON = server_available()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    if REASON:
        pytest.skip(REASON)
    data = tmp_path_factory.mktemp("glmtts-data")
    with espeak_service(data, workers=2) as url:
        yield url


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_batch_plan_synthesize_gather_loses_nothing(tmp_path, service):
    ws = tmp_path / "ws"
    ws.mkdir()
    uttids = write_batch(ws, 14)
    # two lines clone a voice from a 4 s reference recording in the workspace
    (ws / "prompts").mkdir()
    (ws / "prompts" / "ref.wav").write_bytes(sine_wav(seconds=4.0, rate=24000))
    lines = read_jsonl(ws / "batch.jsonl")
    for line in lines[:2]:
        line.update(prompt_speech="prompts/ref.wav", prompt_text="A steady reference tone for four seconds.")
    (ws / "batch.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    out = run_batch(ws, tmp_path, service, shards=3, concurrency=2)
    assert len(out["plan"].results["SHARDS"]) == 3
    summary_run = out["gather"]
    assert summary_run.returncode == 0, summary_run.stderr
    summary = summary_run.results["SUMMARY"]
    assert summary["total"] == 14 and summary["missing"] == 0 and summary["duplicated"] == 0
    assert summary["unexpected"] == 0 and summary["corrupt"] == 0

    # union of the shard manifests == the input, each uttid exactly once
    shard_ids = [
        r["uttid"]
        for s in out["plan"].results["SHARDS"]
        for r in read_jsonl(ws / "batch-out" / "manifests" / Path(s).name)
    ]
    assert sorted(shard_ids) == sorted(uttids) and len(shard_ids) == len(set(shard_ids))
    combined = read_jsonl(ws / "batch-out" / "manifest.jsonl")
    assert [r["uttid"] for r in combined] == uttids
    failed = {r["uttid"]: r for r in combined if r["status"] != "ok"}
    # the service may refuse a synthetic tone as a voice prompt; that is recorded, never lost
    assert set(failed) <= set(uttids[:2]), failed
    for record in failed.values():
        assert 400 <= record["http_status"] < 500 and record["error"]
    assert summary["ok"] == 14 - len(failed)
    for record in combined:
        if record["status"] != "ok":
            continue
        path = ws / "batch-out" / "wav" / f"{record['uttid']}.wav"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"] and len(data) == record["bytes"]
        with wave.open(str(path)) as wav:
            assert wav.getframerate() == 24000 and wav.getnchannels() == 1
            frames = wav.readframes(wav.getnframes())
            seconds = wav.getnframes() / wav.getframerate()
        assert 0.3 < seconds < 30 and record["duration"] == pytest.approx(seconds, abs=1e-3)
        assert any(frames[i] for i in range(0, len(frames), 97)), "silent audio"


def test_synthesize_rides_out_a_full_queue(tmp_path_factory, tmp_path):
    """A service with one worker and no queue answers 429 + Retry-After to everything beyond one
    request; with 4 in flight the client must wait and retry until every line is synthesised."""
    if REASON:
        pytest.skip(REASON)
    data = tmp_path_factory.mktemp("glmtts-busy")
    ws = tmp_path / "ws"
    ws.mkdir()
    uttids = write_batch(ws, 8)
    with espeak_service(data, workers=1, extra_env={"GLMTTS_QUEUE_SIZE": "0"}) as url:
        (shard,) = plan(ws, tmp_path, shards=1).results["SHARDS"]
        run = synthesize(ws, tmp_path, shard, url, concurrency=4, MAX_ATTEMPTS="30", RETRY_AFTER_MAX="2")
    assert run.returncode == 0, run.stderr
    assert run.results["OK_COUNT"] == "8", run.stderr
    retries = int(run.stdout.split(" retries")[0].rsplit(", ", 1)[-1])
    assert retries > 0, f"the service never answered 429: {run.stdout}"
    records = read_jsonl(ws / run.results["MANIFEST"])
    assert sorted(r["uttid"] for r in records) == uttids
    assert max(r["attempts"] for r in records) > 1
    assert gather(ws, tmp_path, [shard]).returncode == 0


def verify_step(tmp_path, url, rate):
    (step,) = task("glm-tts-verify")["spec"]["steps"]
    params = {
        "URL": url,
        "NAMESPACE": "",
        "DEPLOYMENT": "",
        "TIMEOUT": "60",
        "TEXT": "",
        "EXPECT_SAMPLE_RATE": str(rate),
        "API_KEY_FILE": "api-key",
    }
    return run_step(
        step,
        params=params,
        workspaces={"api-key": None},
        results_dir=tmp_path / f"verify-{rate}",
        timeout=120,
    )


def test_verify_step_against_the_service(tmp_path, service):
    from test_tekton_deploy_build_scripts import hooks_cli_or_skip

    hooks_cli_or_skip()
    good = verify_step(tmp_path, service, 24000)
    assert good.returncode == 0, (good.stdout[-2000:], good.stderr[-2000:])
    report = good.results["REPORT"]
    assert report["ok"] is True and report["exit"] == 0 and not report["failed"]
    assert len(json.dumps(report)) <= 1024
    wrong = verify_step(tmp_path, service, 16000)
    assert wrong.returncode == 1, (wrong.stdout[-2000:], wrong.stderr[-2000:])
    assert wrong.results["REPORT"]["ok"] is False and wrong.results["REPORT"]["failed"]
