"""Synthesis through a real uvicorn: native and OpenAI APIs, formats, streaming, voices."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest
from conftest import CONSENT, assert_speech, decode, error_message, tone_wav
from glm_tts_server.constants import SPEECH_PATH, TTS_PATH, VOICES_PATH
from harness.tts_backends import ToneBackend

MIXED = "<zh>你好</zh>, this is GLM-TTS on Kubernetes. 今天天气很好。"


def test_tts_returns_wav_speech_with_timing_headers(espeak_server):
    with espeak_server.client() as client:
        response = client.post(TTS_PATH, json={"text": MIXED})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    duration = assert_speech(response.content, rate=24000, min_s=1.0)
    assert float(response.headers["X-Audio-Duration-Seconds"]) == pytest.approx(duration, abs=0.01)
    assert float(response.headers["X-Synthesis-Seconds"]) > 0
    assert response.headers["X-Sample-Rate"] == "24000"


def test_configured_sample_rate_is_the_output_rate(start_server):
    server = start_server(sample_rate=16000)
    with server.client() as client:
        response = client.post(TTS_PATH, json={"text": "Sixteen kilohertz, please."})
    assert response.status_code == 200, response.text
    assert_speech(response.content, rate=16000)
    assert response.headers["X-Sample-Rate"] == "16000"


def test_flac_and_pcm_carry_the_same_audio(start_server):
    text = "The same words in every format."
    server = start_server(backend=ToneBackend())  # deterministic, unlike eSpeak's timing jitter
    with server.client() as client:
        wav = client.post(TTS_PATH, json={"text": text, "seed": 7})
        flac = client.post(TTS_PATH, json={"text": text, "seed": 7, "response_format": "flac"})
        pcm = client.post(TTS_PATH, json={"text": text, "seed": 7, "response_format": "pcm"})
    assert flac.headers["content-type"] == "audio/flac"
    assert pcm.headers["content-type"].startswith("audio/L16")
    wav_samples, _ = decode(wav.content)
    flac_samples, rate = decode(flac.content)
    assert rate == 24000
    pcm_samples = np.frombuffer(pcm.content, dtype="<i2").astype(np.float32) / 32767
    assert len(wav_samples) == len(flac_samples) == len(pcm_samples) > 0
    np.testing.assert_allclose(flac_samples, wav_samples, atol=1e-4)
    np.testing.assert_allclose(pcm_samples, wav_samples, atol=1e-3)


def test_speed_changes_the_duration(espeak_server):
    text = "Speaking quickly makes shorter audio."
    with espeak_server.client() as client:
        normal = client.post(TTS_PATH, json={"text": text})
        fast = client.post(TTS_PATH, json={"text": text, "speed": 2.0})
    fast_s, normal_s = (float(r.headers["X-Audio-Duration-Seconds"]) for r in (fast, normal))
    assert fast_s < 0.75 * normal_s


def test_phoneme_mode_speaks(espeak_server):
    with espeak_server.client() as client:
        response = client.post(TTS_PATH, json={"text": "<zh>重庆的天气</zh>", "phoneme": True})
    assert response.status_code == 200, response.text
    assert_speech(response.content)


def test_openai_compatible_speech(espeak_server):
    with espeak_server.client() as client:
        response = client.post(
            SPEECH_PATH,
            json={
                "model": "tts-1",
                "input": "Hello from the OpenAI API.",
                "voice": "alloy",
                "response_format": "wav",
                "speed": 1.0,
            },
        )
        default_format = client.post(SPEECH_PATH, json={"model": "glm-tts", "input": "Hi."})
    assert response.status_code == 200, response.text
    assert_speech(response.content)
    assert default_format.status_code == 200
    assert default_format.headers["content-type"] == "audio/mpeg"  # OpenAI's default


def test_registered_voice_round_trip(start_server):
    backend = ToneBackend()
    server = start_server(backend=backend)
    with server.client() as client:
        created = client.post(
            VOICES_PATH,
            data={"name": "narrator", "transcript": "A calm reading voice.", "consent": CONSENT},
            files={"audio": ("narrator.flac", tone_wav(fmt="FLAC"), "audio/flac")},
        )
        assert created.status_code == 201, created.text
        assert created.json() | {"registered_at": None} == {
            "name": "narrator",
            "transcript": "A calm reading voice.",
            "registered_by": "anonymous",
            "registered_at": None,
            "consent": CONSENT,
        }
        listed = client.get(VOICES_PATH).json()["voices"]
        assert [v["name"] for v in listed] == ["narrator"]
        spoken = client.post(TTS_PATH, json={"text": "Read this.", "voice": "narrator"})
        assert spoken.status_code == 200, spoken.text
        assert_speech(spoken.content)
        assert client.delete(f"{VOICES_PATH}/narrator").status_code == 204
        assert client.get(VOICES_PATH).json() == {"voices": []}
        gone = client.post(TTS_PATH, json={"text": "Read this.", "voice": "narrator"})
    assert gone.status_code == 422
    assert "unknown voice 'narrator'" in error_message(gone)


def test_default_voice_is_used_when_a_request_names_none(start_server):
    voices: list = []
    backend = ToneBackend()
    server = start_server(backend=backend, default_voice="house")
    original = backend.synthesize

    def spy(segments, options):
        voices.append(options.voice.name if options.voice else None)
        return original(segments, options)

    backend.synthesize = spy
    with server.client() as client:
        missing = client.post(TTS_PATH, json={"text": "Who speaks?"})
        assert missing.status_code == 422
        assert "default voice" in error_message(missing)
        client.post(
            VOICES_PATH,
            data={"name": "house", "transcript": "The house voice.", "consent": CONSENT},
            files={"audio": ("house.wav", tone_wav(), "audio/wav")},
        ).raise_for_status()
        assert client.post(TTS_PATH, json={"text": "Who speaks?"}).status_code == 200
        assert client.post(SPEECH_PATH, json={"input": "And now?", "voice": "alloy"}).status_code == 200
    assert voices == ["house", "house"]


def test_inline_prompt_audio_is_used_and_cleaned_up(start_server, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the server parks the prompt
    seen: list = []
    backend = ToneBackend()
    original = backend.synthesize

    def spy(segments, options):
        seen.append((options.voice.transcript, options.voice.audio_path.is_file()))
        return original(segments, options)

    server = start_server(backend=backend)
    backend.synthesize = spy
    prompt = base64.b64encode(tone_wav()).decode()
    with server.client() as client:
        response = client.post(
            TTS_PATH, json={"text": "Clone this.", "prompt_text": "The prompt words.", "prompt_audio": prompt}
        )
    assert response.status_code == 200, response.text
    assert seen == [("The prompt words.", True)]
    assert not list(tmp_path.glob("glmtts-prompt-*")), "the inline prompt file was left behind"


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_stream_sends_the_first_sentence_before_the_rest_is_made(start_server, fmt):
    # 0.3 s per sentence: the whole response takes >= 1.5 s, the first sentence ~0.3 s.
    server = start_server(backend=ToneBackend(delay_s=0.3))
    text = " ".join(f"This is sentence number {n}." for n in range(1, 6))
    chunks: list[tuple[float, bytes]] = []
    with server.client() as client:
        started = time.perf_counter()
        request = {"text": text, "stream": True, "response_format": fmt}
        with client.stream("POST", TTS_PATH, json=request) as r:
            assert r.status_code == 200
            assert r.headers["X-Sample-Rate"] == "24000"
            for chunk in r.iter_raw():
                chunks.append((time.perf_counter() - started, chunk))
    total = chunks[-1][0]
    assert chunks[0][0] < total / 2, f"first chunk at {chunks[0][0]:.2f} s of {total:.2f} s"
    body = b"".join(c for _, c in chunks)
    if fmt == "wav":
        assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
        assert struct.unpack("<I", body[4:8])[0] == 0xFFFFFFFF  # streaming size
        samples, rate = decode(body)
        assert rate == 24000
    else:
        samples = np.frombuffer(body, dtype="<i2")
    # 5 sentences of 0.4 s tone, 4 gaps of 0.12 s
    assert len(samples) / 24000 == pytest.approx(5 * 0.4 + 4 * 0.12, abs=0.02)


def test_index_page_is_served(espeak_server):
    with espeak_server.client() as client:
        page = client.get("/")
        script = client.get("/static/app.js")
        favicon = client.get("/favicon.ico")
        missing = client.get("/static/index.py")  # only the page's own files are served
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert '<script src="/static/app.js"' in page.text and "<script>" not in page.text  # CSP-friendly
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    for needle in ("/v1/tts", "/v1/voices", "/v1/batch", "/v1/server", "/admin/empty-cache"):
        assert needle in script.text
    assert favicon.status_code == 200 and favicon.headers["content-type"] == "image/svg+xml"
    assert missing.status_code == 404


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to parse the page's script")
def test_index_page_script_parses(espeak_server, tmp_path):
    with espeak_server.client() as client:
        source = client.get("/static/app.js").text
    script = tmp_path / "page.js"
    script.write_text(source)
    checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_a_client_leaving_a_stream_stops_the_synthesis(start_server):
    backend = ToneBackend(delay_s=0.2)
    server = start_server(backend=backend)
    text = " ".join(f"Sentence {n} of a long reading." for n in range(1, 21))
    request = {"text": text, "stream": True}
    with server.client() as client, client.stream("POST", TTS_PATH, json=request) as response:
        assert response.status_code == 200
        next(response.iter_raw())  # the first sentence, then hang up
    deadline = time.monotonic() + 5
    while server.service.queue.admitted:
        assert time.monotonic() < deadline, "the abandoned stream still holds its worker"
        time.sleep(0.02)
    assert backend.calls - 1 < 20 // 2, f"{backend.calls - 1} of 20 sentences synthesised for nobody"
