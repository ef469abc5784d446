"""The batch Tasks (plan, synthesize, gather) run as Tekton would: their step argv calls the real CLI.

The service here is a small loopback HTTP server that speaks the /v1/tts contract and can be told
to answer 429 + Retry-After, 503 or 400: that is how the client's retry rules are proven. The
end-to-end run against the real espeak service is in test_tekton_batch_live.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import wave
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from batch_pipeline import gather, plan, sine_wav, synthesize, write_batch
from harness.uttid_cases import UTTID_CASES, case_id, line_for


class TtsStub(BaseHTTPRequestHandler):
    """Answers POST /v1/tts: WAV whose length depends on the text, or scripted errors."""

    busy_once: set[str]  # texts answered 429 on their first request
    calls: Counter
    auth: list[str | None]
    lock = threading.Lock()

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["text"]
        with self.lock:
            self.calls[text] += 1
            n = self.calls[text]
            self.auth.append(self.headers.get("Authorization"))
        if self.path != "/v1/tts" or body.get("response_format") != "wav":
            return self._json(404, {"detail": "wrong path or format"})
        if "BAD" in text:
            return self._json(422, {"detail": "text contains an unsupported tag"})
        if "prompt_audio" in body and not body.get("prompt_text"):
            return self._json(422, {"detail": "prompt_text is required with prompt_audio"})
        if text in self.busy_once and n == 1:
            return self._json(429, {"detail": "queue full"}, {"Retry-After": "1"})
        if "FLAKY" in text and n <= 2:
            return self._json(503, {"detail": "not ready"})
        audio = sine_wav(seconds=0.1 + 0.01 * len(text), rate=24000)
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def _json(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub():
    handler = type("Handler", (TtsStub,), {"busy_once": set(), "calls": Counter(), "auth": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- plan


def test_plan_splits_into_balanced_shards_covering_every_line_once(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    uttids = write_batch(ws, 23, with_prompt=True)
    run = plan(ws, tmp_path, shards=4)
    assert run.returncode == 0, run.stderr
    shards = run.results["SHARDS"]
    assert shards == [f"batch-out/shards/shard-{i:03d}.jsonl" for i in range(4)]
    assert run.results["LINES"] == "23"
    seen = [line["uttid"] for s in shards for line in read_jsonl(ws / s)]
    assert sorted(seen) == sorted(uttids) and len(seen) == len(set(seen))
    sizes = [sum(len(line["syn_text"]) for line in read_jsonl(ws / s)) for s in shards]
    assert max(sizes) - min(sizes) <= max(len(line) for line in (ws / "batch.jsonl").read_text().splitlines())
    # each shard keeps the input order
    for s in shards:
        ids = [line["uttid"] for line in read_jsonl(ws / s)]
        assert ids == sorted(ids, key=uttids.index)
    assert json.loads((ws / "batch-out" / "plan.json").read_text())["lines"] == 23


def test_plan_never_cuts_empty_shards(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 3)
    run = plan(ws, tmp_path, shards=8)
    assert run.returncode == 0, run.stderr
    assert len(run.results["SHARDS"]) == 3


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"uttid": "a", "syn_text": "x"}', '{"syn_text": "no id"}'], "batch.jsonl:line 2: missing uttid"),
        (
            ['{"uttid": "a", "syn_text": "x"}', "", '{"uttid": "a", "syn_text": "y"}'],
            "line 3: duplicate uttid 'a' (first used on line 1)",
        ),
        (['{"uttid": "a", "syn_text": "x"}', "{not json"], "line 2: invalid JSON"),
        (['{"uttid": "../etc", "syn_text": "x"}'], "line 1: uttid '../etc' contains a path separator"),
        (['{"uttid": "a", "syn_text": ""}'], "line 1: missing syn_text"),
        (
            ['{"uttid": "a", "syn_text": "x", "prompt_text": "t", "prompt_speech": "nope.wav"}'],
            "line 1: prompt_speech 'nope.wav': no such file",
        ),
        (
            ['{"uttid": "a", "syn_text": "x", "prompt_text": "t", "prompt_speech": "/etc/passwd"}'],
            "line 1: prompt_speech '/etc/passwd' resolves outside the data directory",
        ),
        (["[1, 2]"], "line 1: expected a JSON object"),
    ],
)
def test_plan_rejects_bad_lines_with_their_line_number(tmp_path, lines, message):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "batch.jsonl").write_text("\n".join(lines) + "\n")
    run = plan(ws, tmp_path, shards=2)
    assert run.returncode == 1
    assert message in run.stderr
    assert "SHARDS" not in run.results


def test_plan_keeps_the_shards_result_within_tektons_result_budget(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 150)
    over = plan(ws, tmp_path, shards=150)
    assert over.returncode == 2 and "over the 3500-byte budget" in over.stderr
    fits = plan(ws, tmp_path, shards=90)
    assert fits.returncode == 0, fits.stderr
    assert len((tmp_path / "plan-results" / "SHARDS").read_bytes()) <= 3500
    raised = plan(ws, tmp_path, shards=150, max_result_bytes="10000")
    assert raised.returncode == 0 and len(raised.results["SHARDS"]) == 150


@pytest.mark.parametrize(
    ("shards", "message"),
    [
        ("0", "--shards must be between 1 and 256"),
        ("257", "--shards must be between 1 and 256"),
        ("four", "expected an integer"),
    ],
)
def test_plan_rejects_bad_shard_counts_as_usage_errors(tmp_path, shards, message):
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 3)
    run = plan(ws, tmp_path, shards=shards)  # type: ignore[arg-type]
    assert run.returncode == 2 and message in run.stderr


# ---------------------------------------------------------------- synthesize + gather


def test_synthesize_honours_retry_after_and_records_errors_without_failing(tmp_path, stub):
    handler, url = stub
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 6)
    lines = read_jsonl(ws / "batch.jsonl")
    lines[1]["syn_text"] = "This one is BAD."
    lines[2]["syn_text"] = "FLAKY service line."
    (ws / "batch.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    handler.busy_once.update({lines[0]["syn_text"], lines[3]["syn_text"]})
    key_dir = tmp_path / "key"
    key_dir.mkdir()
    (key_dir / "api-key").write_text("s3cret\n")

    planned = plan(ws, tmp_path, shards=1)
    (shard,) = planned.results["SHARDS"]
    started = time.monotonic()
    run = synthesize(ws, tmp_path, shard, url, concurrency=3, api_key_dir=key_dir)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert run.results["OK_COUNT"] == "5" and run.results["ERROR_COUNT"] == "1"
    assert elapsed >= 1.0, "a 429 with Retry-After: 1 must make the client wait a second"
    assert handler.calls[lines[0]["syn_text"]] == 2 and handler.calls[lines[3]["syn_text"]] == 2
    assert handler.calls[lines[2]["syn_text"]] == 3  # two 503s, then success
    assert handler.calls[lines[1]["syn_text"]] == 1  # a 422 is not retried
    assert set(handler.auth) == {"Bearer s3cret"}

    manifest = read_jsonl(ws / run.results["MANIFEST"])
    by_id = {r["uttid"]: r for r in manifest}
    bad = by_id[lines[1]["uttid"]]
    assert bad["status"] == "error" and bad["http_status"] == 422 and "unsupported tag" in bad["error"]
    assert bad["duration"] is None and bad["sha256"] is None
    for line in lines:
        record = by_id[line["uttid"]]
        if record["status"] != "ok":
            continue
        data = (ws / "batch-out" / "wav" / f"{line['uttid']}.wav").read_bytes()
        assert record["bytes"] == len(data) and record["sha256"] == hashlib.sha256(data).hexdigest()
        with wave.open(str(ws / record["wav"])) as wav:
            assert wav.getframerate() == 24000
            assert record["duration"] == pytest.approx(wav.getnframes() / 24000, abs=1e-3)
    assert "utt-0001 FAILED" in run.stdout and "[6/6]" in run.stdout  # progress, one line per utterance

    gathered = gather(ws, tmp_path, [shard])
    assert gathered.returncode == 0, gathered.stderr
    assert gathered.results["SUMMARY"]["ok"] == 5 and gathered.results["SUMMARY"]["error"] == 1
    strict = gather(ws, tmp_path, [shard], fail_on_error="true")
    assert strict.returncode == 1 and "1 lines failed synthesis" in strict.stderr


def test_synthesize_sends_prompt_audio_from_the_workspace(tmp_path, stub):
    _handler, url = stub
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 2, with_prompt=True)
    (shard,) = plan(ws, tmp_path, shards=1).results["SHARDS"]
    run = synthesize(ws, tmp_path, shard, url, SEED="7")
    assert run.returncode == 0 and run.results["OK_COUNT"] == "2", run.stderr


def test_synthesize_fail_on_error_and_unreachable_service(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 2)
    (shard,) = plan(ws, tmp_path, shards=1).results["SHARDS"]
    from batch_pipeline import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    run = synthesize(ws, tmp_path, shard, dead, MAX_ATTEMPTS="2", FAIL_ON_ERROR="true")
    assert run.returncode == 1
    record = read_jsonl(ws / "batch-out" / "manifests" / "shard-000.jsonl")[0]
    assert record["status"] == "error" and record["attempts"] == 2
    assert record["error"].startswith("connection failed")


def test_gather_detects_loss_duplicates_strangers_and_altered_audio(tmp_path, stub):
    _, url = stub
    ws = tmp_path / "ws"
    ws.mkdir()
    write_batch(ws, 8)
    shards = plan(ws, tmp_path, shards=2).results["SHARDS"]
    for s in shards:
        assert synthesize(ws, tmp_path, s, url).returncode == 0
    good = gather(ws, tmp_path, shards)
    assert good.returncode == 0, good.stderr
    assert good.results["SUMMARY"] == {
        "total": 8,
        "ok": 8,
        "error": 0,
        "missing": 0,
        "duplicated": 0,
        "unexpected": 0,
        "corrupt": 0,
        "audio_seconds": good.results["SUMMARY"]["audio_seconds"],
    }
    combined = read_jsonl(ws / good.results["MANIFEST"])
    assert [r["uttid"] for r in combined] == [f"utt-{i:04d}" for i in range(8)]

    m0, m1 = (ws / "batch-out" / "manifests" / Path(s).name for s in shards)
    original0, original1 = m0.read_text(), m1.read_text()
    rows0 = original0.splitlines()
    # loss: drop one record
    m0.write_text("\n".join(rows0[1:]) + "\n")
    lost = gather(ws, tmp_path, shards)
    assert lost.returncode == 1 and "1 uttids missing" in lost.stderr
    # duplicate: the same record in both shard manifests
    m0.write_text(original0)
    m1.write_text(original1 + rows0[0] + "\n")
    dup = gather(ws, tmp_path, shards)
    assert dup.returncode == 1 and "1 uttids in more than one manifest" in dup.stderr
    # stranger: an uttid the input never had
    stranger = json.loads(rows0[0]) | {"uttid": "not-in-input"}
    m1.write_text(original1 + json.dumps(stranger) + "\n")
    odd = gather(ws, tmp_path, shards)
    assert odd.returncode == 1 and "not-in-input" in odd.stderr
    # altered audio
    m1.write_text(original1)
    first = json.loads(rows0[0])["uttid"]
    (ws / "batch-out" / "wav" / f"{first}.wav").write_bytes(b"RIFF0000WAVE")
    altered = gather(ws, tmp_path, shards)
    assert altered.returncode == 1 and "wavs missing or altered" in altered.stderr
    # a shard that never reported
    m1.unlink()
    gone = gather(ws, tmp_path, shards)
    assert gone.returncode == 1 and "shard manifests missing" in gone.stderr


# ---------------------------------------------------------------- the uttid rule, same table as the service


@pytest.mark.parametrize(("uttid", "stem", "words"), UTTID_CASES, ids=[case_id(c) for c in UTTID_CASES])
def test_plan_task_applies_the_services_uttid_rule(tmp_path, uttid, stem, words):
    """The table of tests/harness/uttid_cases.py, also run against /v1/batch and `batch run`."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "batch.jsonl").write_text(line_for(uttid) + "\n", encoding="utf-8")
    run = plan(ws, tmp_path, shards=1)
    if stem is None:
        assert run.returncode == 1, run.stdout
        assert words in run.stderr
        return
    assert run.returncode == 0, run.stderr
    (shard,) = run.results["SHARDS"]
    assert [line["uttid"] for line in read_jsonl(ws / shard)] == [stem]
