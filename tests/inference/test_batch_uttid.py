"""The uttid rule (harness/uttid_cases.py) through the server's /v1/batch and `glm-tts-server batch run`.

The Tekton batch plan Task runs the same table in tests/tekton/test_tekton_batch_tasks.py.
"""

from __future__ import annotations

import json
import time

import pytest
from glm_tts_server.cli import main
from glm_tts_server.constants import BATCH_PATH
from harness.uttid_cases import UTTID_CASES, case_id, line_for

CASES = pytest.mark.parametrize(
    ("uttid", "stem", "words"), UTTID_CASES, ids=[case_id(c) for c in UTTID_CASES]
)


@CASES
def test_uttid_rule_through_the_batch_cli(tmp_path, monkeypatch, capsys, uttid, stem, words):
    monkeypatch.setenv("GLMTTS_BACKEND", "harness.tts_backends:ToneBackend")
    source = tmp_path / "in.jsonl"
    source.write_text(line_for(uttid) + "\n", encoding="utf-8")
    code = main(
        [
            "batch",
            "run",
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--data-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    (item,) = manifest["items"]
    if stem is None:
        assert code == 1 and item["status"] == "invalid"
        assert words in item["error"]
        assert words in capsys.readouterr().err
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.json"]
    else:
        assert code == 0 and item["status"] == "ok", item
        assert item["uttid"] == stem and (tmp_path / "out" / f"{stem}.wav").is_file()


@pytest.fixture(scope="module")
def batch_server(tmp_path_factory):
    from conftest import _settings, run_in_thread
    from harness.tts_backends import ToneBackend

    server = run_in_thread(
        _settings(tmp_path_factory.mktemp("uttid"), {"batch_max_active": 64}), ToneBackend()
    )
    yield server
    server.stop()


@CASES
def test_uttid_rule_through_the_batch_api(batch_server, uttid, stem, words):
    with batch_server.client() as client:
        response = client.post(
            BATCH_PATH, content=line_for(uttid).encode(), headers={"content-type": "application/x-ndjson"}
        )
        if stem is None:
            assert response.status_code == 422, response.text
            assert words in response.text
            return
        assert response.status_code == 202, response.text
        batch_id = response.json()["id"]
        deadline = time.monotonic() + 30
        while (status := client.get(f"{BATCH_PATH}/{batch_id}").json())["status"] != "done":
            assert time.monotonic() < deadline, status
            time.sleep(0.02)
        (item,) = status["items"]
        assert item["uttid"] == stem and item["status"] == "ok"
        assert client.get(item["audio_url"]).status_code == 200
