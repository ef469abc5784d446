"""Batch JSONL (parsing, bad lines, path escapes) and the glm-tts-server CLI, on real eSpeak audio."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
from glm_tts_server.audio import rms
from glm_tts_server.backends.espeak import EspeakBackend
from glm_tts_server.batch.jsonl import parse_jsonl
from glm_tts_server.batch.local import run_batch
from glm_tts_server.cli import main
from glm_tts_server.config import load_settings
from glm_tts_server.synthesis import build_synthesizer


def _tone(path, seconds, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 190 * t)).astype(np.float32), rate)


@pytest.fixture
def data_dir(tmp_path):
    data = tmp_path / "data"
    (data / "prompts").mkdir(parents=True)
    _tone(data / "prompts" / "good.wav", 4.0)
    _tone(data / "prompts" / "short.wav", 1.0)
    (data / "prompts" / "notes.wav").write_text("not audio")
    outside = tmp_path / "outside.wav"
    _tone(outside, 4.0)
    (data / "prompts" / "sneaky.wav").symlink_to(outside)
    return data


LINES = [
    {"uttid": "u1", "syn_text": "第一句话。First line."},
    {
        "uttid": "u2",
        "prompt_text": "一段提示。",
        "prompt_speech": "prompts/good.wav",
        "syn_text": "有提示的一句。",
    },
    {"syn_text": "no uttid here"},
    {"uttid": "u1", "syn_text": "duplicate"},
    {"uttid": "u3", "prompt_text": "x", "prompt_speech": "../outside.wav", "syn_text": "dot-dot escape"},
    {"uttid": "u4", "prompt_text": "x", "prompt_speech": "prompts/sneaky.wav", "syn_text": "symlink escape"},
    {"uttid": "u5", "prompt_text": "x", "prompt_speech": "prompts/notes.wav", "syn_text": "not audio"},
    {"uttid": "u6", "prompt_text": "x", "prompt_speech": "prompts/short.wav", "syn_text": "too short"},
    {"uttid": "u7", "prompt_speech": "prompts/good.wav", "syn_text": "no transcript"},
    {"uttid": "u8"},
    {"uttid": "../u9", "syn_text": "bad id"},
    {"uttid": 10, "syn_text": "Numeric ids are fine."},
]


def _jsonl(tmp_path):
    path = tmp_path / "in.jsonl"
    body = [json.dumps(line, ensure_ascii=False) for line in LINES]
    body.insert(3, "{broken json")  # becomes line 4
    path.write_text("\n".join(body) + "\n\n", encoding="utf-8")
    return path


EXPECTED_ERRORS = {
    3: "missing uttid",
    4: "invalid JSON",
    5: "duplicate uttid 'u1' (first used on line 1)",
    6: "outside the data directory",
    7: "outside the data directory",
    8: "not readable audio",
    9: "lasts 1.00 s",
    10: "needs prompt_text",
    11: "missing syn_text",
    12: "contains a path separator",
}


def test_parse_reports_every_bad_line_with_its_number(tmp_path, data_dir):
    items, errors = parse_jsonl(_jsonl(tmp_path).read_text(encoding="utf-8"), data_dir)
    assert [i.uttid for i in items] == ["u1", "u2", "10"]
    assert items[1].prompt_speech == (data_dir / "prompts" / "good.wav").resolve()
    assert {e.line: e.message for e in errors}.keys() == EXPECTED_ERRORS.keys()
    for error in errors:
        assert EXPECTED_ERRORS[error.line] in error.message, (error.line, error.message)


def test_cli_batch_with_two_workers_writes_good_lines_and_fails(tmp_path, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("GLMTTS_SAMPLE_RATE", "16000")
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            "run",
            str(_jsonl(tmp_path)),
            "-o",
            str(out),
            "--workers",
            "2",
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "in.jsonl:line 3: missing uttid" in err and "line 6:" in err
    for uttid in ("u1", "u2", "10"):
        data, rate = sf.read(out / f"{uttid}.wav", dtype="float32")
        assert rate == 16000 and len(data) / rate > 0.3 and rms(data) > 0.01
    assert sorted(p.name for p in out.glob("*.wav")) == ["10.wav", "u1.wav", "u2.wav"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["succeeded"] == 3 and manifest["failed"] == len(EXPECTED_ERRORS)
    by_line = {item["line"]: item for item in manifest["items"]}
    assert by_line[1]["status"] == "ok" and by_line[1]["duration_s"] > 0
    assert by_line[6]["status"] == "invalid" and "outside" in by_line[6]["error"]


def test_run_batch_isolates_a_line_that_fails_during_synthesis(tmp_path):
    synth = build_synthesizer(load_settings({"GLMTTS_MAX_INPUT_CHARS": "40"}))
    items, errors = parse_jsonl(
        ['{"uttid": "ok", "syn_text": "short"}', json.dumps({"uttid": "long", "syn_text": "word " * 20})],
        tmp_path,
    )
    manifest = run_batch(items, synth, tmp_path / "out", workers=1, progress=False, errors=errors)
    assert [i["status"] for i in manifest["items"]] == ["ok", "failed"]
    assert "InvalidText" in manifest["items"][1]["error"]
    assert (tmp_path / "out" / "ok.wav").exists() and not (tmp_path / "out" / "long.wav").exists()


class CrashingBackend(EspeakBackend):
    """eSpeak, except that the worker process dies on the word "crash" (a segfault or OOM kill)."""

    def __init__(self, settings):
        super().__init__(settings.sample_rate)

    def synthesize(self, segments, options):
        if any("crash" in seg.text for seg in segments):
            os._exit(3)
        return super().synthesize(segments, options)


def test_a_dying_worker_fails_lines_not_the_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMTTS_BACKEND", f"{__name__}:CrashingBackend")
    path = tmp_path / "in.jsonl"
    path.write_text('{"uttid": "a", "syn_text": "fine"}\n{"uttid": "b", "syn_text": "crash now"}\n')
    out = tmp_path / "out"
    assert main(["batch", "run", str(path), "-o", str(out), "--workers", "2", "--no-progress"]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    crashed = next(item for item in manifest["items"] if item["uttid"] == "b")
    assert crashed["status"] == "failed" and "worker process died" in crashed["error"]


def test_cli_batch_all_good_exits_zero(tmp_path, capsys):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"uttid": "a", "syn_text": "Hello."}\n{"uttid": "b", "syn_text": "你好。"}\n')
    assert main(["batch", "run", str(path), "-o", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "2 of 2 lines synthesised, 0 failed" in capsys.readouterr().out


def test_cli_synth_writes_audio_and_reports_rtf(tmp_path, capsys):
    out = tmp_path / "hello.flac"
    assert main(["synth", "Hello <zh>世界</zh>, this is a test.", "-o", str(out), "--seed", "1"]) == 0
    data, rate = sf.read(out, dtype="float32")
    assert rate == 24000 and rms(data) > 0.01
    assert "real-time factor" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["synth", "hi", "-o", "{tmp}/x.ogg"], {}, "cannot tell the format"),
        (["synth", "", "-o", "{tmp}/x.wav"], {}, "text is empty"),
        (["synth", "hi", "-o", "{tmp}/x.wav", "--voice", "nobody"], {}, "unknown voice 'nobody'"),
        (["synth", "hi", "-o", "{tmp}/x.wav"], {"GLMTTS_PORT": "http"}, "GLMTTS_PORT"),
        (["batch", "run", "{tmp}/absent.jsonl", "-o", "{tmp}/o"], {}, "cannot read"),
        (["batch", "run", "{tmp}/absent.jsonl", "-o", "{tmp}/o", "--workers", "0"], {}, "at least 1"),
        (["synth"], {}, "required"),
        (["synth", "hi", "-o", "{tmp}/x.wav", "--speed", "9"], {}, "outside 0.25-4"),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path, monkeypatch, capsys, argv, env, message):
    monkeypatch.setenv("GLMTTS_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err
