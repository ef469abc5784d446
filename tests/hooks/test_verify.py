"""`glm-tts-hooks verify`: rollout via kmock, then readiness and a checked synthesis over real HTTP."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from glm_tts_hooks.verify import command, service
from glm_tts_hooks.verify.audio import analyse_wav, expected_duration
from harness.kmock_cluster import KmockCluster, deployment
from harness.tts_stub import Behaviour, serving, speech_like, wav_bytes

from hooks.cli_runner import check, run_command

NS = "glm-tts"
TEXT = command.DEFAULT_TEXT


def verify(url: str, *extra: str) -> tuple[int, dict]:
    return run_command(
        command, ["verify", "--url", url, "--timeout", "10", "--poll-interval", "0.05", *extra]
    )


def good_wav(rate: int = 24000) -> bytes:
    bounds = expected_duration(TEXT)
    return wav_bytes(speech_like((bounds.low + bounds.high) / 2, rate), rate)


def test_contract_paths_match_the_service_constants() -> None:
    from glm_tts_server import constants

    assert service.READYZ_PATH == constants.READYZ_PATH
    assert service.TTS_PATH == constants.TTS_PATH


def test_expected_duration_bounds() -> None:
    mixed = expected_duration("你好，欢迎使用 GLM-TTS speech service。")
    assert 1.0 < mixed.low < 2.0 and 8.0 < mixed.high < 12.0
    assert expected_duration("<zh>你好</zh>") == expected_duration("你好")  # tags are not spoken
    long_en = expected_duration(" ".join(["word"] * 150))  # one minute at 150 wpm
    assert long_en.low <= 60 <= long_en.high
    assert expected_duration("").low == 0.3


def test_analyse_wav_measures_level_and_rejects_non_wav() -> None:
    sine = 0.5 * np.sin(2 * np.pi * 440 * np.arange(48000) / 24000)  # RMS 0.5/sqrt(2), peak 0.5
    analysis = analyse_wav(wav_bytes(sine, 24000))
    assert analysis.sample_rate == 24000 and analysis.duration == 2.0
    assert analysis.rms_dbfs == pytest.approx(-9.03, abs=0.01)
    assert analysis.peak_dbfs == pytest.approx(-6.02, abs=0.01)
    silent = analyse_wav(wav_bytes(np.zeros(24000, dtype=np.float32), 24000))
    assert silent.rms_dbfs == -np.inf
    with pytest.raises(ValueError, match="RIFF/WAVE header"):
        analyse_wav(b'{"detail": "oops"}')
    with pytest.raises(ValueError, match="cannot be decoded"):
        analyse_wav(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk")


def test_good_service_passes_and_reports_latency_and_rtf(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    behaviour = Behaviour(
        ready_after=2, body=good_wav(), headers={"X-Sample-Rate": "24000", "X-Synthesis-Seconds": "0.5"}
    )
    with serving(behaviour) as url:
        rc, report = verify(url, "--api-key-file", str(key_file), "--voice", "female-1")
    assert rc == 0, report
    assert [row["name"] for row in report["checks"]] == [
        "readyz",
        "synthesis",
        "wav-format",
        "sample-rate",
        "duration",
        "not-silence",
    ]
    assert behaviour.seen[0]["json"] == {"text": TEXT, "response_format": "wav", "voice": "female-1"}
    assert behaviour.seen[0]["authorization"] == "Bearer s3cret"
    assert report["summary"]["latency_s"] > 0
    assert report["summary"]["real_time_factor"] == pytest.approx(
        0.5 / report["summary"]["audio_s"], rel=1e-2
    )


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLMTTS_API_KEY", "from-env")
    behaviour = Behaviour(body=good_wav())
    with serving(behaviour) as url:
        rc, _ = verify(url)
    assert rc == 0
    assert behaviour.seen[0]["authorization"] == "Bearer from-env"


def test_silence_fails(tmp_path: Path) -> None:
    quiet = wav_bytes(speech_like(3.0, amplitude=0.001), 24000)
    with serving(Behaviour(body=quiet)) as url:
        rc, report = verify(url)
    assert rc == 1
    row = check(report, "not-silence")
    assert row["status"] == "fail" and "silence" in row["detail"]
    assert "no speech" in row["fix"]


def test_wrong_sample_rate_fails() -> None:
    with serving(Behaviour(body=good_wav(rate=16000))) as url:
        rc, report = verify(url)
    assert rc == 1
    row = check(report, "sample-rate")
    assert row["detail"] == "16000 Hz, expected 24000 Hz"
    assert "GLMTTS_SAMPLE_RATE" in row["fix"]
    with serving(Behaviour(body=good_wav(rate=16000))) as url:
        rc, _ = verify(url, "--expect-sample-rate", "16000")
    assert rc == 0


def test_non_wav_body_fails() -> None:
    with serving(Behaviour(body=b"ID3\x03\x00mp3 frames", content_type="audio/mpeg")) as url:
        rc, report = verify(url)
    assert rc == 1
    row = check(report, "wav-format")
    assert "does not start with a RIFF/WAVE header" in row["detail"]


def test_truncated_audio_fails_the_duration_check() -> None:
    with serving(Behaviour(body=wav_bytes(speech_like(0.4), 24000))) as url:
        rc, report = verify(url)
    assert rc == 1
    row = check(report, "duration")
    assert row["status"] == "fail" and "truncated audio" in row["detail"]


def test_service_error_detail_is_reported() -> None:
    behaviour = Behaviour(
        status=503, body=b'{"detail": "CUDA out of memory; retry later"}', content_type="application/json"
    )
    with serving(behaviour) as url:
        rc, report = verify(url)
    assert rc == 1
    assert (
        check(report, "synthesis")["detail"] == "POST /v1/tts answered 503: CUDA out of memory; retry later"
    )


def test_never_ready_times_out_with_the_last_answer() -> None:
    with serving(Behaviour(ready_after=10**6)) as url:
        rc, report = run_command(
            command, ["verify", "--url", url, "--timeout", "0.5", "--poll-interval", "0.1"]
        )
    assert rc == 1
    row = check(report, "readyz")
    assert "never answered 200 (last: 503" in row["detail"] and "model loading" in row["detail"]


def test_unreachable_service_fails_readyz() -> None:
    with serving(Behaviour()) as url:
        pass  # stopped: nothing listens there any more
    rc, report = run_command(command, ["verify", "--url", url, "--timeout", "0.3", "--poll-interval", "0.1"])
    assert rc == 1
    assert "ConnectError" in check(report, "readyz")["detail"]


def test_rollout_complete_then_service_checked(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(deployment("glm-tts", NS, replicas=2))
    with serving(Behaviour(body=good_wav())) as url:
        rc, report = verify(
            url, "--namespace", NS, "--deployment", "glm-tts", "--kubeconfig", str(kubeconfig)
        )
    assert rc == 0, report
    assert check(report, "rollout")["detail"].startswith("2/2 replicas updated and available")


def test_rollout_in_progress_is_waited_for(cluster: KmockCluster, kubeconfig: Path) -> None:
    cluster.add(
        deployment("glm-tts", NS, replicas=2, generation=3, observed=2, updated=1, available=1, total=3)
    )
    timer = threading.Timer(
        0.4,
        cluster.patch,
        (
            "Deployment",
            "glm-tts",
            {
                "status": {
                    "observedGeneration": 3,
                    "updatedReplicas": 2,
                    "availableReplicas": 2,
                    "replicas": 2,
                }
            },
            NS,
        ),
    )
    timer.start()
    try:
        with serving(Behaviour(body=good_wav())) as url:
            rc, report = verify(
                url, "--namespace", NS, "--deployment", "glm-tts", "--kubeconfig", str(kubeconfig)
            )
    finally:
        timer.cancel()
    assert rc == 0, report
    deployment_reads = [r for r in cluster.requests if r.url.path.endswith("/deployments/glm-tts")]
    assert len(deployment_reads) >= 2


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        (
            {"progress_deadline_exceeded": True, "available": 0},
            "stuck: rollout exceeded its progress deadline",
        ),
        ({"updated": 1}, "not complete within 0.5 s: 1 of 2 replicas updated"),
        ({"total": 3}, "1 old replicas are pending termination"),
        ({"available": 1}, "1 of 2 updated replicas available"),
        ({"generation": 5, "observed": 4}, "has not observed the latest spec"),
    ],
)
def test_unfinished_rollouts_fail(cluster: KmockCluster, kubeconfig: Path, kwargs: dict, text: str) -> None:
    cluster.add(deployment("glm-tts", NS, replicas=2, **kwargs))
    rc, report = run_command(
        command,
        [
            "verify",
            "--url",
            "http://127.0.0.1:9",
            "--namespace",
            NS,
            "--deployment",
            "glm-tts",
            "--kubeconfig",
            str(kubeconfig),
            "--timeout",
            "0.5",
            "--poll-interval",
            "0.1",
        ],
    )
    assert rc == 1
    row = check(report, "rollout")
    assert text in row["detail"]
    assert "describe deploy/glm-tts" in row["fix"]
    assert len(report["checks"]) == 1  # the service is not tried before the rollout is done


def test_missing_deployment_and_forbidden_and_api_errors(cluster: KmockCluster, kubeconfig: Path) -> None:
    base = [
        "verify",
        "--url",
        "http://127.0.0.1:9",
        "--namespace",
        NS,
        "--deployment",
        "glm-tts",
        "--kubeconfig",
        str(kubeconfig),
        "--timeout",
        "2",
        "--poll-interval",
        "0.1",
    ]
    rc, report = run_command(command, base)
    assert rc == 1 and "Deployment glm-tts not found in glm-tts" in check(report, "rollout")["detail"]

    cluster.forbid("get", "deployments", namespace=NS)
    rc, report = run_command(command, base)
    assert rc == 1
    assert "get on deployments" in check(report, "rollout")["fix"]

    cluster.fail("get", "deployments", status=500, message="etcdserver: leader changed")
    rc, report = run_command(command, base)
    assert rc == 2 and "answered 500" in report["error"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "glm-tts:8080"], "must start with http://"),
        (["--url", "http://x", "--deployment", "glm-tts"], "go together"),
        (["--url", "http://x", "--api-key-file", "/nonexistent/key"], "cannot read --api-key-file"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    assert args.func(args) == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def real_service(tmp_path: Path) -> Iterator[str]:
    """`glm-tts-server serve` with the espeak backend on a free loopback port, always stopped."""
    if importlib.util.find_spec("glm_tts_server.server") is None:
        pytest.skip("glm_tts_server.server is not built yet (the service is developed in parallel)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "GLMTTS_BACKEND": "espeak",
        "GLMTTS_PORT": str(port),
        "GLMTTS_HOST": "127.0.0.1",
        "GLMTTS_DATA_DIR": str(tmp_path / "data"),
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "glm_tts_server.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_verify_passes_against_the_real_service(real_service: str) -> None:
    rc, report = run_command(
        command, ["verify", "--url", real_service, "--timeout", "60", "--poll-interval", "0.2"]
    )
    assert rc == 0, report
    assert {row["status"] for row in report["checks"]} == {"pass"}, report
    assert check(report, "sample-rate")["detail"] == "24000 Hz"
    assert report["summary"]["audio_s"] > 1 and report["summary"]["real_time_factor"] > 0


def test_a_non_positive_timeout_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from glm_tts_hooks.cli import main

    assert main(["verify", "--url", "http://x", "--timeout", "0"]) == 2
    assert "must be more than 0 seconds" in capsys.readouterr().err


def test_a_duration_header_that_disagrees_with_the_audio_warns() -> None:
    body = good_wav()
    seconds = analyse_wav(body).duration
    with serving(Behaviour(body=body, headers={"X-Audio-Duration-Seconds": f"{seconds:.3f}"})) as url:
        rc, report = verify(url)
    assert rc == 0 and check(report, "duration")["status"] == "pass"
    with serving(Behaviour(body=body, headers={"X-Audio-Duration-Seconds": f"{seconds + 1:.3f}"})) as url:
        rc, report = verify(url)
    row = check(report, "duration")
    assert rc == 0 and row["status"] == "warn" and "X-Audio-Duration-Seconds says" in row["detail"]


def test_api_key_from_a_mounted_secret_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tekton's optional api-key workspace: the key file when the Secret exists, none when it does not."""
    monkeypatch.delenv("GLMTTS_API_KEY", raising=False)
    (tmp_path / "api-key").write_text("from-secret\n")
    behaviour = Behaviour(body=good_wav())
    with serving(behaviour) as url:
        assert verify(url, "--api-key-dir", str(tmp_path))[0] == 0
        assert verify(url, "--api-key-dir", str(tmp_path / "unbound"), "--api-key-name", "api-key")[0] == 0
        assert verify(url, "--api-key-dir", "", "--api-key-file", "")[0] == 0  # unset params
    assert [seen["authorization"] for seen in behaviour.seen] == ["Bearer from-secret", None, None]
