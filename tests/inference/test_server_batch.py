"""`/v1/batch`: upstream JSONL in, per-line results and WAVs out; one bad line fails only itself."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import assert_speech, error_message, tone_wav
from glm_tts_server.constants import BATCH_PATH

NDJSON = {"content-type": "application/x-ndjson"}


def _jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows).encode()


def _wait_done(client, batch_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"{BATCH_PATH}/{batch_id}").json()
        if status["status"] == "done":
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_batch_runs_good_lines_and_reports_bad_ones(start_server, tmp_path):
    server = start_server()
    prompts = server.settings.data_dir / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "ref.wav").write_bytes(tone_wav())
    outside = tmp_path / "secret.wav"
    outside.write_bytes(tone_wav())
    body = _jsonl(
        {"uttid": "u1", "syn_text": "The first line."},
        {
            "uttid": "u2",
            "syn_text": "<zh>第二行</zh>",
            "prompt_text": "Reference words.",
            "prompt_speech": "prompts/ref.wav",
        },
        {"syn_text": "No id."},
        {"uttid": "u3"},
        {"uttid": "u1", "syn_text": "Same id again."},
        {"uttid": "u4", "syn_text": "Escape.", "prompt_text": "x", "prompt_speech": "../secret.wav"},
        {"uttid": "u5", "syn_text": "Absolute.", "prompt_text": "x", "prompt_speech": str(outside)},
        '{"uttid": "u6", "syn_text": ',
        "",
        {"uttid": "u7", "syn_text": "The last line."},
    )
    with server.client() as client:
        accepted = client.post(BATCH_PATH, content=body, headers={"content-type": "application/x-ndjson"})
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["id"]
        assert accepted.headers["Location"] == f"{BATCH_PATH}/{batch_id}"
        status = _wait_done(client, batch_id)
        by_line = {item["line"]: item for item in status["items"]}
        assert (status["total"], status["succeeded"], status["failed"]) == (9, 3, 6)
        assert [by_line[n]["status"] for n in (1, 2, 10)] == ["ok", "ok", "ok"]
        assert "missing uttid" in by_line[3]["error"]
        assert "missing syn_text" in by_line[4]["error"]
        assert "duplicate uttid 'u1'" in by_line[5]["error"]
        assert "outside the data directory" in by_line[6]["error"]
        assert "outside the data directory" in by_line[7]["error"]
        assert "invalid JSON" in by_line[8]["error"]
        for line in (1, 2, 10):
            audio = client.get(by_line[line]["audio_url"])
            assert audio.status_code == 200
            assert audio.headers["content-type"] == "audio/wav"
            assert_speech(audio.content)
        assert client.get(f"{BATCH_PATH}/{batch_id}/audio/u4").status_code == 404
        assert client.get(f"{BATCH_PATH}/{batch_id}/audio/..%2Fstatus.json").status_code == 404
    assert (server.settings.data_dir / "batches" / batch_id / "status.json").is_file()


def test_finished_batch_survives_a_restart(start_server, tmp_path):
    data_dir = tmp_path / "shared-data"
    first = start_server(data_dir=data_dir)
    with first.client() as client:
        accepted = client.post(
            BATCH_PATH, content=_jsonl({"uttid": "a", "syn_text": "Keep me."}), headers=NDJSON
        )
        batch_id = accepted.json()["id"]
        _wait_done(client, batch_id)
    first.stop()
    second = start_server(data_dir=data_dir)
    with second.client() as client:
        status = client.get(f"{BATCH_PATH}/{batch_id}").json()
        assert status["status"] == "done"
        assert_speech(client.get(status["items"][0]["audio_url"]).content)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "the batch is empty"),
        (b"\n\n", "the batch is empty"),
        (_jsonl({"syn_text": "no id"}, {"uttid": "x"}), "line 1: missing uttid"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
    ],
)
def test_a_batch_with_nothing_to_do_is_422(start_server, body, words):
    server = start_server()
    with server.client() as client:
        response = client.post(BATCH_PATH, content=body, headers=NDJSON)
    assert response.status_code == 422
    assert words in error_message(response)


# ---------------------------------------------------------------- bounds (issue: hostile client, point 11)


def _lines(n: int, prefix: str = "l") -> bytes:
    return _jsonl(*({"uttid": f"{prefix}{i}", "syn_text": f"Line number {i}."} for i in range(n)))


def test_concurrent_batches_are_capped_with_retry_after(start_server):
    from harness.tts_backends import ToneBackend

    server = start_server(ToneBackend(delay_s=0.2), batch_max_active=2)
    with server.client() as client:
        accepted = [client.post(BATCH_PATH, content=_lines(5, f"b{i}-"), headers=NDJSON) for i in range(2)]
        assert [r.status_code for r in accepted] == [202, 202]
        refused = client.post(BATCH_PATH, content=_lines(5, "b2-"), headers=NDJSON)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert "GLMTTS_BATCH_MAX_ACTIVE" in refused.text
        for response in accepted:
            _wait_done(client, response.json()["id"])
        assert client.post(BATCH_PATH, content=_lines(1, "after-"), headers=NDJSON).status_code == 202


def test_batches_leave_queue_room_for_interactive_requests(start_server):
    """Batch lines never take the reserved half of the queue: interactive requests still get in."""
    from harness.tts_backends import ToneBackend

    server = start_server(ToneBackend(delay_s=0.3), workers=1, queue_size=3, batch_max_active=8)
    queue = server.service.queue
    with server.client() as client:
        for i in range(6):
            assert client.post(BATCH_PATH, content=_lines(4, f"b{i}-"), headers=NDJSON).status_code == 202
        deadline = time.monotonic() + 10
        while queue.admitted < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)  # the other four jobs are now waiting for room
        assert queue.admitted <= queue.capacity - 2  # half of 4 slots reserved
        speech = client.post("/v1/tts", json={"text": "An interactive request."})
        assert speech.status_code == 200, speech.text


def test_every_batch_has_a_final_status_after_shutdown(start_server, tmp_path):
    """On SIGTERM running jobs stop after their line and waiting jobs are marked: none stays 'running'."""
    from harness.tts_backends import ToneBackend

    data_dir = tmp_path / "drain-data"
    server = start_server(
        ToneBackend(delay_s=0.3),
        data_dir=data_dir,
        workers=1,
        queue_size=1,
        batch_max_active=6,
        drain_timeout_s=1.0,
    )
    with server.client() as client:
        ids = [
            client.post(BATCH_PATH, content=_lines(5, f"b{i}-"), headers=NDJSON).json()["id"]
            for i in range(6)
        ]
    server.stop()
    states = {}
    for batch_id in ids:
        status = json.loads((data_dir / "batches" / batch_id / "status.json").read_text())
        states[batch_id] = status["status"]
    assert set(states.values()) <= {"done", "interrupted"}, states
    assert "interrupted" in states.values()
    again = start_server(data_dir=data_dir)
    with again.client() as client:
        for batch_id in ids:
            assert client.get(f"{BATCH_PATH}/{batch_id}").json()["status"] in ("done", "interrupted")


def test_a_status_left_by_a_killed_process_reads_as_interrupted(start_server, tmp_path):
    data_dir = tmp_path / "killed"
    job = data_dir / "batches" / ("a" * 32)
    job.mkdir(parents=True)
    (job / "status.json").write_text(
        json.dumps(
            {
                "id": "a" * 32,
                "status": "running",
                "total": 1,
                "succeeded": 0,
                "failed": 0,
                "items": [{"line": 1, "uttid": "x", "status": "pending"}],
            }
        )
    )
    server = start_server(data_dir=data_dir)
    with server.client() as client:
        assert client.get(f"{BATCH_PATH}/{'a' * 32}").json()["status"] == "interrupted"


def test_finished_batches_are_deleted_after_the_retention(start_server, tmp_path):
    data_dir = tmp_path / "retention"
    server = start_server(data_dir=data_dir, batch_retention_hours=1.0)
    with server.client() as client:
        old = client.post(BATCH_PATH, content=_lines(2, "old-"), headers=NDJSON).json()["id"]
        _wait_done(client, old)
        fresh = client.post(BATCH_PATH, content=_lines(2, "new-"), headers=NDJSON).json()["id"]
        _wait_done(client, fresh)
        two_hours_ago = time.time() - 7200
        os.utime(data_dir / "batches" / old / "status.json", (two_hours_ago, two_hours_ago))
        # the next submission purges what expired
        assert client.post(BATCH_PATH, content=_lines(1, "x-"), headers=NDJSON).status_code == 202
        assert client.get(f"{BATCH_PATH}/{old}").status_code == 404
        assert not (data_dir / "batches" / old).exists()
        assert client.get(f"{BATCH_PATH}/{fresh}").json()["status"] == "done"


def test_a_batch_over_the_line_limit_is_refused(start_server):
    server = start_server(batch_max_lines=3)
    with server.client() as client:
        response = client.post(BATCH_PATH, content=_lines(4), headers=NDJSON)
    assert response.status_code == 422 and "over this server's limit of 3" in response.text


def test_a_batch_must_say_it_is_jsonl(start_server):
    """text/plain is a CORS "simple" type: a foreign page could post it without a preflight."""
    server = start_server()
    with server.client() as client:
        for media in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"content-type": media} if media else {}
            response = client.post(BATCH_PATH, content=_lines(1, "plain-"), headers=headers)
            assert response.status_code == 415, response.text
            assert "application/x-ndjson" in error_message(response)
