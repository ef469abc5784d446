"""Accountable voice cloning: who registered a voice, with what consent, and an audit line per use."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import time

import httpx
import pytest
from conftest import CONSENT, error_message, tone_wav
from glm_tts_server.constants import BATCH_PATH, SPEECH_PATH, TTS_PATH, VOICES_PATH
from glm_tts_server.server import create_app
from harness.tts_backends import ToneBackend


def _register(client, name="alice", consent=CONSENT, headers=None):
    data = {"name": name, "transcript": "Hello, this is Alice."}
    if consent is not None:
        data["consent"] = consent
    return client.post(
        VOICES_PATH, data=data, files={"audio": ("a.wav", tone_wav(), "audio/wav")}, headers=headers or {}
    )


def _audit(server) -> list[dict]:
    path = server.settings.audit_log_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_registration_records_who_and_the_consent_and_each_use_is_audited(start_server):
    server = start_server(backend=ToneBackend())
    proxy = {
        "X-Forwarded-Email": "alice.admin@example.com",
        "X-Forwarded-User": "aadmin",
        "X-Request-ID": "req-123",
    }
    with server.client() as client:  # loopback: the sidecar's address, so the identity is believed
        created = _register(client, headers=proxy)
        assert created.status_code == 201, created.text
        assert created.json()["registered_by"] == "alice.admin@example.com"
        assert created.json()["consent"] == CONSENT
        assert created.headers["x-request-id"] == "req-123"
        spoken = client.post(TTS_PATH, json={"text": "One. Two.", "voice": "alice"})
        openai_style = client.post(
            SPEECH_PATH,
            json={"model": "tts-1", "input": "Three.", "voice": {"id": "alice"}, "response_format": "wav"},
        )
        builtin = client.post(SPEECH_PATH, json={"model": "tts-1", "input": "Not cloned.", "voice": "alloy"})
        inline = client.post(
            TTS_PATH,
            json={
                "text": "Four.",
                "prompt_text": "Hi.",
                "prompt_audio": base64.b64encode(tone_wav()).decode(),
            },
        )
        assert [r.status_code for r in (spoken, openai_style, builtin, inline)] == [200] * 4
        assert client.delete(f"{VOICES_PATH}/alice").status_code == 204
        assert list((server.settings.data_dir / "voices").iterdir()) == []
    lines = _audit(server)
    assert [(e["event"], e["voice"]) for e in lines] == [
        ("voice.register", "alice"),
        ("synthesis", "alice"),
        ("synthesis", "alice"),
        ("synthesis", "inline"),
        ("voice.delete", "alice"),
    ]
    register, spoken_line, openai_line, inline_line, _ = lines
    assert register["caller"] == "alice.admin@example.com" and register["caller_source"] == "proxy"
    assert register["consent"] == CONSENT and register["request_id"] == "req-123"
    assert spoken_line["characters"] == len("One. Two.") and spoken_line["caller"] == "anonymous"
    assert spoken_line["request_id"] == spoken.headers["x-request-id"]
    assert openai_line["endpoint"] == SPEECH_PATH and openai_line["format"] == "wav"
    assert len(inline_line["prompt_audio_sha256"]) == 16
    assert all(e["time"].endswith("+00:00") for e in lines)


def test_identity_headers_from_elsewhere_are_not_believed(tmp_path):
    from conftest import _settings

    settings = _settings(tmp_path, {"api_key": "k3y", "api_key_name": "ci-pipeline"})
    app = create_app(settings, backend=ToneBackend())
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))  # another pod, not the sidecar

    async def register() -> httpx.Response:
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + 10
            while not app.state.service.lifecycle.ready:  # the backend loads in the background
                assert time.monotonic() < deadline, app.state.service.lifecycle.detail
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(transport=transport, base_url="http://glm-tts") as client:
                return await client.post(
                    VOICES_PATH,
                    data={"name": "bob", "transcript": "Hi, Bob here.", "consent": CONSENT},
                    files={"audio": ("b.wav", tone_wav(), "audio/wav")},
                    headers={"Authorization": "Bearer k3y", "X-Forwarded-Email": "ceo@example.com"},
                )

    # A loop of its own in a thread: a browser test's sync Playwright may hold this thread's loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        created = pool.submit(asyncio.run, register()).result(timeout=60)
    assert created.status_code == 201, created.text
    assert created.json()["registered_by"] == "ci-pipeline"


@pytest.mark.parametrize(
    ("consent", "words"),
    [
        (None, "consent is missing"),
        ("   ", "consent is missing"),
        ("ok", "consent is too short"),
        ("x" * 1001, "longer than 1000"),
    ],
)
def test_consent_is_required_and_nothing_is_written_without_it(start_server, consent, words):
    server = start_server(backend=ToneBackend())
    with server.client() as client:
        response = _register(client, consent=consent)
    assert response.status_code == 422
    assert words in error_message(response) and response.json()["error"]["param"] == "consent"
    voices = server.settings.data_dir / "voices"
    assert not voices.exists() or list(voices.iterdir()) == []
    assert _audit(server) == []


def test_an_operator_can_turn_the_consent_requirement_off(start_server):
    server = start_server(backend=ToneBackend(), voice_consent_required=False)
    with server.client() as client:
        created = _register(client, consent=None)
        info = client.get("/v1/server").json()
    assert created.status_code == 201 and created.json()["consent"] is None
    assert info["consent_required"] is False


def test_an_unwritable_audit_log_refuses_cloning_but_not_plain_speech(start_server, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log's folder should be")
    server = start_server(backend=ToneBackend(), audit_log=str(blocker / "audit.jsonl"))
    with server.client() as client:
        refused = _register(client)
        plain = client.post(TTS_PATH, json={"text": "No cloned voice here."})
        inline = client.post(
            TTS_PATH,
            json={
                "text": "Cloned.",
                "prompt_text": "Hi.",
                "prompt_audio": base64.b64encode(tone_wav()).decode(),
            },
        )
    assert refused.status_code == 503 and "audit log" in error_message(refused)
    assert refused.json()["error"]["code"] == "audit_unavailable"
    assert not (server.settings.data_dir / "voices" / "alice.json").exists()
    assert plain.status_code == 200
    assert inline.status_code == 503 and "audit log" in error_message(inline)


def test_the_audit_log_rotates_and_stays_bounded(start_server):
    server = start_server(backend=ToneBackend(), audit_log_max_bytes=600, audit_log_backups=2)
    with server.client() as client:
        assert _register(client).status_code == 201
        for i in range(12):
            assert client.post(TTS_PATH, json={"text": f"Line {i}.", "voice": "alice"}).status_code == 200
    path = server.settings.audit_log_path
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["voice-audit.jsonl", "voice-audit.jsonl.1", "voice-audit.jsonl.2"]
    assert all(p.stat().st_size <= 600 for p in path.parent.iterdir())


def _batch_with_a_cloned_line(server) -> bytes:
    prompts = server.settings.data_dir / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "ref.wav").write_bytes(tone_wav())
    rows = [
        {"uttid": "plain", "syn_text": "Not cloned."},
        {
            "uttid": "cloned",
            "syn_text": "Cloned from a file.",
            "prompt_text": "Hi.",
            "prompt_speech": "prompts/ref.wav",
        },
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_each_cloned_batch_line_is_audited_before_it_runs(start_server):
    server = start_server(backend=ToneBackend())
    body = _batch_with_a_cloned_line(server)
    with server.client() as client:
        accepted = client.post(
            BATCH_PATH,
            content=body,
            headers={"content-type": "application/x-ndjson", "X-Forwarded-Email": "ops@example.com"},
        )
    assert accepted.status_code == 202, accepted.text
    (entry,) = _audit(server)  # the plain line clones nothing, so it is not in the log
    assert entry["event"] == "synthesis" and entry["voice"] == "prompt_speech:prompts/ref.wav"
    assert entry["caller"] == "ops@example.com" and entry["caller_source"] == "proxy"
    assert entry["endpoint"] == BATCH_PATH and entry["format"] == "wav"
    assert (entry["batch_id"], entry["uttid"], entry["line"]) == (accepted.json()["id"], "cloned", 2)
    assert entry["characters"] == len("Cloned from a file.")
    assert entry["request_id"] == accepted.headers["x-request-id"]
    assert entry["prompt_audio_sha256"] == hashlib.sha256(tone_wav()).hexdigest()[:16]


def test_a_batch_with_a_cloned_line_is_refused_whole_when_the_audit_log_cannot_be_written(
    start_server, tmp_path
):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log's folder should be")
    server = start_server(backend=ToneBackend(), audit_log=str(blocker / "audit.jsonl"))
    with server.client() as client:
        refused = client.post(
            BATCH_PATH,
            content=_batch_with_a_cloned_line(server),
            headers={"content-type": "application/x-ndjson"},
        )
        plain = client.post(
            BATCH_PATH,
            content=json.dumps({"uttid": "p", "syn_text": "Plain."}).encode(),
            headers={"content-type": "application/x-ndjson"},
        )
    assert refused.status_code == 503 and "audit log" in error_message(refused)
    assert refused.json()["error"]["code"] == "audit_unavailable"
    assert plain.status_code == 202  # a batch that clones nothing does not need the log
    batches = server.settings.data_dir / "batches"
    assert [p.name for p in batches.iterdir()] == [plain.json()["id"]]  # nothing left of the refused one
