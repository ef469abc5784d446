"""`/v1/batch`: upstream JSONL in, per-line results and WAVs out; one bad line fails only itself."""

from __future__ import annotations

import json
import time

import pytest
from conftest import assert_speech, error_message, tone_wav
from glm_tts_server.constants import BATCH_PATH


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
        {"uttid": "u2", "syn_text": "<zh>第二行</zh>", "prompt_text": "Reference words.",
         "prompt_speech": "prompts/ref.wav"},
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
        accepted = client.post(BATCH_PATH, content=_jsonl({"uttid": "a", "syn_text": "Keep me."}))
        batch_id = accepted.json()["id"]
        _wait_done(client, batch_id)
    first.stop()
    second = start_server(data_dir=data_dir)
    with second.client() as client:
        status = client.get(f"{BATCH_PATH}/{batch_id}").json()
        assert status["status"] == "done"
        assert_speech(client.get(status["items"][0]["audio_url"]).content)


@pytest.mark.parametrize(("body", "words"), [
    (b"", "the batch is empty"),
    (b"\n\n", "the batch is empty"),
    (_jsonl({"syn_text": "no id"}, {"uttid": "x"}), "line 1: missing uttid"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
])
def test_a_batch_with_nothing_to_do_is_422(start_server, body, words):
    server = start_server()
    with server.client() as client:
        response = client.post(BATCH_PATH, content=body)
    assert response.status_code == 422
    assert words in error_message(response)
