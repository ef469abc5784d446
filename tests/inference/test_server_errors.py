"""Bad input gets a 4xx that says what to fix, and the server keeps serving."""

from __future__ import annotations

import base64

import pytest
from conftest import CONSENT, assert_speech, error_message, tone_wav
from glm_tts_server.constants import HEALTHZ_PATH, SPEECH_PATH, TTS_PATH, VOICES_PATH

LIMIT_CHARS = 200
LIMIT_BYTES = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import _settings, run_in_thread

    settings = _settings(
        tmp_path_factory.mktemp("errors"), {"max_input_chars": LIMIT_CHARS, "max_upload_bytes": LIMIT_BYTES}
    )
    running = run_in_thread(settings)
    yield running
    running.stop()


def _json(**fields):
    return {"json": fields}


def _voice_form(name="narrator", transcript="Some words.", audio=None, filename="v.wav"):
    return {
        "data": {"name": name, "transcript": transcript, "consent": CONSENT},
        "files": {"audio": (filename, tone_wav() if audio is None else audio, "audio/wav")},
    }


BAD_REQUESTS = [
    # (id, method, path, request kwargs, status, words the message must contain)
    ("empty text", "POST", TTS_PATH, _json(text=""), 422, "text is empty"),
    ("blank text", "POST", TTS_PATH, _json(text="   \n "), 422, "text is empty"),
    ("only tags", "POST", TTS_PATH, _json(text="<zh></zh> ..."), 422, "no words"),
    (
        "text over the limit",
        "POST",
        TTS_PATH,
        _json(text="a" * (LIMIT_CHARS + 1)),
        413,
        f"limit of {LIMIT_CHARS}",
    ),
    (
        "input over the limit",
        "POST",
        SPEECH_PATH,
        _json(model="tts-1", input="b" * (LIMIT_CHARS + 5)),
        413,
        "input has",
    ),
    ("missing text", "POST", TTS_PATH, _json(voice="x"), 422, "text: Field required"),
    ("unknown field", "POST", TTS_PATH, _json(text="hi", sped=2), 422, "sped: unknown field"),
    ("unknown voice", "POST", TTS_PATH, _json(text="hi", voice="nobody"), 422, "unknown voice 'nobody'"),
    ("unknown openai voice", "POST", SPEECH_PATH, _json(input="hi", voice="nobody"), 422, "unknown voice"),
    ("unsupported format", "POST", TTS_PATH, _json(text="hi", response_format="ogg"), 422, "response_format"),
    (
        "openai ogg",
        "POST",
        SPEECH_PATH,
        _json(input="hi", response_format="ogg"),
        422,
        "'mp3', 'opus', 'aac', 'flac', 'wav' or 'pcm'",
    ),
    ("speed too high", "POST", TTS_PATH, _json(text="hi", speed=9), 422, "speed"),
    ("negative seed", "POST", TTS_PATH, _json(text="hi", seed=-1), 422, "seed"),
    ("prompt audio alone", "POST", TTS_PATH, _json(text="hi", prompt_audio="UklGRg=="), 422, "go together"),
    (
        "voice and prompt",
        "POST",
        TTS_PATH,
        _json(text="hi", voice="a", prompt_text="x", prompt_audio="UklGRg=="),
        422,
        "either voice or",
    ),
    (
        "prompt not base64",
        "POST",
        TTS_PATH,
        _json(text="hi", prompt_text="x", prompt_audio="%%%"),
        422,
        "not valid base64",
    ),
    (
        "prompt not audio",
        "POST",
        TTS_PATH,
        _json(text="hi", prompt_text="x", prompt_audio=base64.b64encode(b"hello, not audio").decode()),
        422,
        "not readable audio",
    ),
    (
        "prompt too short",
        "POST",
        TTS_PATH,
        _json(text="hi", prompt_text="x", prompt_audio=base64.b64encode(tone_wav(1.0)).decode()),
        422,
        "between 3 and 10 s",
    ),
    (
        "prompt too large",
        "POST",
        TTS_PATH,
        _json(text="hi", prompt_text="x", prompt_audio=base64.b64encode(b"\0" * (LIMIT_BYTES + 1)).decode()),
        413,
        "limit",
    ),
    (
        "malformed JSON",
        "POST",
        TTS_PATH,
        {"content": b'{"text": "hi",', "headers": {"content-type": "application/json"}},
        422,
        "not valid JSON",
    ),
    ("JSON array", "POST", TTS_PATH, {"json": ["hi"]}, 422, "JSON object"),
    ("no body", "POST", TTS_PATH, {"headers": {"content-type": "application/json"}}, 422, "body is missing"),
    (
        "wrong content type",
        "POST",
        TTS_PATH,
        {"content": b"text=hi", "headers": {"content-type": "text/plain"}},
        415,
        "application/json",
    ),
    ("form to tts", "POST", TTS_PATH, {"data": {"text": "hi"}}, 415, "application/json"),
    ("JSON to voices", "POST", VOICES_PATH, _json(name="x"), 415, "multipart/form-data"),
    (
        "non-audio upload",
        "POST",
        VOICES_PATH,
        _voice_form(audio=b"MZ\x90\x00 not audio at all"),
        422,
        "not readable audio",
    ),
    ("silent upload", "POST", VOICES_PATH, _voice_form(audio=tone_wav(amplitude=0.0)), 422, "silent"),
    ("oversized upload", "POST", VOICES_PATH, _voice_form(audio=b"\0" * (LIMIT_BYTES + 10)), 413, "limit"),
    ("huge body", "POST", VOICES_PATH, _voice_form(audio=b"\0" * (LIMIT_BYTES * 2)), 413, "larger than"),
    ("bad voice name", "POST", VOICES_PATH, _voice_form(name="../etc"), 422, "invalid voice name"),
    ("empty transcript", "POST", VOICES_PATH, _voice_form(transcript=" "), 422, "transcript is empty"),
    (
        "missing upload",
        "POST",
        VOICES_PATH,
        {"data": {"name": "x", "transcript": "y"}, "files": {"other": ("a", b"b")}},
        422,
        "audio: Field required",
    ),
    ("delete unknown voice", "DELETE", f"{VOICES_PATH}/nobody", {}, 404, "unknown voice"),
    ("unknown batch", "GET", "/v1/batch/0123456789abcdef0123456789abcdef", {}, 404, "no batch"),
    ("unknown path", "GET", "/v1/nothing-here", {}, 404, "Not Found"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
def test_bad_input_is_a_4xx_that_says_what_to_fix(server, method, path, kwargs, status, words):
    with server.client() as client:
        response = client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert words in error_message(response)
        # ...and the server keeps serving
        assert client.get(HEALTHZ_PATH).json()["status"] == "ok"


def test_server_still_speaks_after_the_bad_inputs(server):
    with server.client() as client:
        for case in BAD_REQUESTS:
            client.request(case[1], case[2], **case[3])
        response = client.post(TTS_PATH, json={"text": "Still here."})
        health = client.get(HEALTHZ_PATH).json()
    assert response.status_code == 200
    assert_speech(response.content)
    assert health == {"status": "ok", "consecutive_failures": 0}
