"""`glm-tts-server batch plan|synthesize|gather` in process: exit codes, Tekton-style values, paths.

The same verbs run as the Tekton batch Tasks in tests/tekton/test_tekton_batch_tasks.py (against a
scripted HTTP stub) and test_tekton_batch_live.py (against the real espeak service).
"""

from __future__ import annotations

import json

import pytest
from conftest import tone_wav
from glm_tts_server.batch.remote import read_api_key
from glm_tts_server.cli import main


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    (ws / "prompts").mkdir(parents=True)
    (ws / "prompts" / "ref.wav").write_bytes(tone_wav())
    lines = [{"uttid": f"u{i}", "syn_text": "word " * (i + 1)} for i in range(5)]
    lines.append(
        {"uttid": 7, "syn_text": "Prompted.", "prompt_text": "Ref.", "prompt_speech": "prompts/ref.wav"}
    )
    (ws / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return ws


def test_plan_writes_shards_and_results(workspace, tmp_path, capsys):
    shards_file, lines_file = tmp_path / "SHARDS", tmp_path / "LINES"
    code = main(
        [
            "batch",
            "plan",
            "--workspace",
            str(workspace),
            "--input",
            "in.jsonl",
            "--shards",
            "2",
            "--result-shards",
            str(shards_file),
            "--result-lines",
            str(lines_file),
        ]
    )
    assert code == 0, capsys.readouterr().err
    shards = json.loads(shards_file.read_text())
    assert shards == ["batch-out/shards/shard-000.jsonl", "batch-out/shards/shard-001.jsonl"]
    assert lines_file.read_text() == "6"
    written = [json.loads(line) for s in shards for line in (workspace / s).read_text().splitlines()]
    assert sorted(w["uttid"] for w in written) == ["7", "u0", "u1", "u2", "u3", "u4"]  # 7 normalised to "7"
    assert {"prompt_speech": "prompts/ref.wav", "prompt_text": "Ref."}.items() <= next(
        w for w in written if w["uttid"] == "7"
    ).items()
    assert "planned 6 utterances in 2 shards" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "../in.jsonl"], "must be a relative path inside the workspace"),
        (["--input", "/etc/passwd"], "must be a relative path inside the workspace"),
        (["--input", "absent.jsonl"], "not found in the workspace"),
        (["--input", "in.jsonl", "--output-dir", "../out"], "must be a relative path inside the workspace"),
        (["--input", "in.jsonl", "--shards", "0"], "between 1 and 256"),
        (["--input", "in.jsonl", "--shards", "x"], "expected an integer"),
        ([], "--input"),
    ],
)
def test_plan_usage_errors_exit_2(workspace, capsys, argv, message):
    assert main(["batch", "plan", "--workspace", str(workspace), *argv]) == 2
    assert message in capsys.readouterr().err


def test_plan_lists_every_bad_line_and_exits_1(workspace, capsys):
    (workspace / "in.jsonl").write_text(
        '{"uttid": "a b", "syn_text": "x"}\n{"uttid": "ok", "syn_text": ""}\n'
    )
    assert main(["batch", "plan", "--workspace", str(workspace), "--input", "in.jsonl"]) == 1
    err = capsys.readouterr().err
    assert "in.jsonl:line 1: uttid 'a b' contains whitespace" in err
    assert "in.jsonl:line 2: missing syn_text" in err
    assert not (workspace / "batch-out" / "shards").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "ftp://x"], "must be an http(s) URL"),
        (["--url", "http://127.0.0.1:1", "--concurrency", "0"], "--concurrency must be between 1 and 64"),
        (["--url", "http://127.0.0.1:1", "--seed", "abc"], "expected an integer or an empty string"),
        (["--url", "http://127.0.0.1:1", "--fail-on-error", "maybe"], "expected true or false"),
        (["--url", "http://127.0.0.1:1", "--shard", "../x.jsonl"], "inside the workspace"),
    ],
)
def test_synthesize_usage_errors_exit_2(workspace, capsys, argv, message):
    args = ["batch", "synthesize", "--workspace", str(workspace), "--shard", "in.jsonl", *argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_empty_tekton_values_mean_unset(workspace, tmp_path, capsys):
    """Tekton passes every param: `--seed=` and `--api-key-dir=` (unbound workspace) are 'not set'."""
    code = main(
        [
            "batch",
            "synthesize",
            "--workspace",
            str(workspace),
            "--shard",
            "in.jsonl",
            "--url",
            "http://127.0.0.1:1",
            "--seed=",
            "--voice=",
            "--api-key-dir=",
            "--max-attempts",
            "1",
            "--fail-on-error=false",
            "--result-error-count",
            str(tmp_path / "ERR"),
        ]
    )
    assert code == 0  # every line failed (nothing listens on port 1), but FAIL_ON_ERROR is false
    assert (tmp_path / "ERR").read_text() == "6"
    assert "[6/6]" in capsys.readouterr().out


def test_api_key_from_an_optional_secret_workspace(tmp_path, capsys):
    assert read_api_key("", "api-key") is None  # workspace not bound
    assert read_api_key(str(tmp_path), "api-key") is None  # optional Secret absent: mounted empty
    assert "no API key sent" in capsys.readouterr().err
    (tmp_path / "api-key").write_text("s3cret\n")
    assert read_api_key(str(tmp_path), "api-key") == "s3cret"


def test_gather_without_shards_is_a_usage_error(workspace, capsys):
    assert main(["batch", "gather", "--workspace", str(workspace), "--input", "in.jsonl"]) == 2
    assert "no shards given" in capsys.readouterr().err
