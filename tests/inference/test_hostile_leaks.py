"""Leaks and loose ends: error texts, the voice store's boundary, slow bodies, Host, /docs, the page."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from conftest import CONSENT, tone_wav
from harness.tts_backends import ToneBackend
from hostile import error_text

REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|0x[0-9a-f]{8,}")


@pytest.fixture
def server(start_server):
    return start_server(backend=ToneBackend())


def test_errors_name_neither_the_data_dir_nor_python_objects(server) -> None:
    data_dir = str(Path(server.settings.data_dir).resolve())
    with server.client() as client:
        answers = [
            client.post(
                "/v1/voices",
                data={"name": "x", "transcript": "hello", "consent": CONSENT},
                files={"audio": ("v.wav", b"RIFF\x00garbage", "audio/wav")},
            ),
            client.post("/v1/tts", json={"text": "hi", "prompt_text": "hi", "prompt_audio": "AAAAAAAA"}),
            client.post("/v1/tts", json={"text": "hi", "voice": "nobody"}),
            client.delete("/v1/voices/nobody"),
            client.post(
                "/v1/tts",
                json={
                    "text": "hi",
                    "prompt_text": "hi",
                    "prompt_audio": "UklGRiQAAABXQVZFZm10IBAAAAABAAEAgD4AAAB9AAACABAAZGF0YQAAAAA=",
                },
            ),
        ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        text = error_text(answer)
        assert data_dir not in text, text
        assert not REPR.search(text), text


def _voice_files(root: Path, name: str, transcript: str) -> None:
    (root / f"{name}.wav").write_bytes(tone_wav())
    (root / f"{name}.json").write_text(json.dumps({"name": name, "transcript": transcript}))


def test_voice_files_linked_from_outside_the_store_are_not_voices(server, tmp_path: Path) -> None:
    voices = Path(server.settings.data_dir) / "voices"
    voices.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _voice_files(outside, "secret", "a file the service must not read")
    (voices / "leak.json").symlink_to(outside / "secret.json")
    (voices / "leak.wav").symlink_to(outside / "secret.wav")
    _voice_files(voices, "half", "its audio lives elsewhere")
    (voices / "half.wav").unlink()
    (voices / "half.wav").symlink_to(outside / "secret.wav")
    _voice_files(voices, "fine", "a voice inside the store")
    with server.client() as client:
        listed = [v["name"] for v in client.get("/v1/voices").json()["voices"]]
        used = client.post("/v1/tts", json={"text": "hello", "voice": "leak"})
        half = client.post("/v1/tts", json={"text": "hello", "voice": "half"})
        fine = client.post("/v1/tts", json={"text": "hello", "voice": "fine"})
    assert listed == ["fine"]
    assert used.status_code == 422 and "unknown voice" in error_text(used)
    assert half.status_code == 422
    assert fine.status_code == 200


def _slow_body(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"text":'
    )
    return sock


def test_a_body_that_never_arrives_gets_408(start_server) -> None:
    server = start_server(backend=ToneBackend(), body_timeout_s=0.5)
    sock = _slow_body(server.url)
    try:
        sock.settimeout(10)
        answer = sock.recv(65536)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_slow_body_does_not_hold_the_drain(start_server_process) -> None:
    server = start_server_process(backend="harness.tts_backends:ToneBackend", drain_timeout_s=20)
    sock = _slow_body(server.url)
    try:
        time.sleep(0.3)
        started = time.monotonic()
        server.terminate()
        code = server.proc.wait(15)
        took = time.monotonic() - started
    finally:
        sock.close()
    assert code == 0, server.log()
    assert took < 5, f"the drain waited {took:.1f} s for a request body that never came"


def test_no_url_is_built_from_the_host_header(server) -> None:
    with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
        for path in ("/v1/voices/", "/healthz/", "/v1/tts/"):
            answer = client.get(path, headers={"Host": "evil.example"})
            assert "evil.example" not in answer.headers.get("location", ""), path
            assert "evil.example" not in answer.text


def test_docs_load_nothing_from_a_cdn(server) -> None:
    with server.client() as client:
        for path in ("/docs", "/redoc"):
            answer = client.get(path)
            assert answer.status_code == 404 or "cdn" not in answer.text.lower(), path
        assert client.get("/openapi.json").status_code == 200


def test_the_schema_needs_the_key_when_one_is_set(start_server) -> None:
    server = start_server(backend=ToneBackend(), api_key="s3cret")
    with server.client() as client:
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/docs").status_code in (401, 404)


def test_the_page_forbids_framing_and_foreign_scripts(server) -> None:
    with server.client() as client:
        answer = client.get("/")
    policy = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert "http" not in directives["script-src"] and "'unsafe-inline'" not in directives["script-src"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
