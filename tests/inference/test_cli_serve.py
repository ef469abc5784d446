"""`glm-tts-server serve` flags win over the environment and the config file; `--help` says where
every setting can also come from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from conftest import free_port, wait_ready
from glm_tts_server.cli import main
from glm_tts_server.config import Settings


def test_flags_override_the_environment_and_the_url_is_printed(tmp_path):
    port, env_port = free_port(), free_port()
    config = tmp_path / "settings.yaml"
    config.write_text(f"port: {env_port}\nbackend: glmtts\nlog_level: warning\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLMTTS_")}
    env.update(GLMTTS_HOST="0.0.0.0", GLMTTS_PORT=str(env_port), GLMTTS_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glm_tts_server.cli",
            "serve",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend",
            "espeak",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc=proc)
        assert httpx.get(f"{url}/v1/server").json()["backend"] == "espeak"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert f"listening on {url}/" in output.splitlines()[0], output


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["serve", "--port", "0"], "--port: Input should be greater than 0"),
        (["serve", "--backend", "nonsense"], "--backend: must be one of espeak, glmtts"),
        (["serve", "--port", "eighty"], "invalid int value"),
    ],
)
def test_bad_flags_are_usage_errors(argv, words, capsys):
    assert main(argv) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["serve", "synth", "batch"])
def test_help_names_the_config_key_and_environment_variable_of_every_setting(verb, capsys):
    assert main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    for key in Settings.model_fields:
        assert f"{key} " in text and f"GLMTTS_{key.upper()}" in text, key
    assert "--config" in text and "$GLMTTS_CONFIG" in text
