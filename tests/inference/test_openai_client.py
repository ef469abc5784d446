"""The OpenAI-compatible API as the official `openai` Python client sees it.

Every format is decoded by FFmpeg's own decoders (PyAV) and, where libsndfile reads it, by
soundfile too; durations are compared with the raw PCM of the same text. Errors must reach
`e.message` with the field named in `e.param`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time

import av
import numpy as np
import openai
import pytest
import soundfile as sf
from glm_tts_server.encoding import FORMATS
from harness import tts_backends as tts_test_backends

TEXT = "Hello from the speech service. This second sentence makes the clip longer."
RATE = 24000
# Codec framing: mp3/aac add an encoder delay and pad the last frame (tens of ms).
DURATION_TOLERANCE_S = 0.12


@pytest.fixture(scope="module")
def client(espeak_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{espeak_server.url}/v1", api_key="unused", max_retries=0)


def pyav_decode(data: bytes) -> tuple[str, int, float, np.ndarray]:
    """(codec, rate, seconds, samples) as FFmpeg decodes the bytes."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        samples = np.concatenate(frames)
        if samples.dtype.kind == "i":  # 16-bit PCM
            samples = samples.astype(np.float32) / 32768.0
        return stream.codec_context.name, stream.rate, len(samples) / stream.rate, samples


@pytest.fixture(scope="module")
def reference_s(client) -> float:
    pcm = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="pcm").content
    return len(pcm) / 2 / RATE


DECODED = {  # format → (FFmpeg decoder, rate it decodes at, soundfile reads it)
    "mp3": ("mp3float", RATE, True),
    "opus": ("opus", 48000, False),
    "aac": ("aac", RATE, False),
    "flac": ("flac", RATE, True),
    "wav": ("pcm_s16le", RATE, True),
}


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcm"])
def test_every_format_decodes_with_the_expected_duration_and_rate(client, reference_s, fmt):
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    codec, rate, seconds, samples = pyav_decode(response.content)
    want_codec, want_rate, by_soundfile = DECODED[fmt]
    assert (codec, rate) == (want_codec, want_rate)
    assert abs(seconds - reference_s) < DURATION_TOLERANCE_S, f"{fmt}: {seconds:.3f} s vs {reference_s:.3f} s"
    assert float(np.sqrt(np.mean(np.square(samples)))) > 0.01, f"{fmt} decodes to silence"
    assert response.response.headers["x-sample-rate"] == str(RATE)
    if by_soundfile:
        data, sf_rate = sf.read(io.BytesIO(response.content), dtype="float32")
        assert sf_rate == RATE and abs(len(data) / sf_rate - reference_s) < DURATION_TOLERANCE_S


def test_pcm_is_raw_16_bit_at_the_announced_rate(client, reference_s):
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="pcm")
    samples = np.frombuffer(response.content, dtype="<i2")
    assert response.response.headers["content-type"] == "audio/L16"
    assert int(response.response.headers["x-sample-rate"]) == RATE
    assert len(samples) / RATE == pytest.approx(reference_s, abs=0.01) and np.abs(samples).max() > 300


def test_mp3_is_the_default_format(client):
    response = client.audio.speech.create(model="tts-1", voice="alloy", input="Just the default, please.")
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert pyav_decode(response.content)[0] == "mp3float"


def test_instructions_are_accepted_and_reported_as_not_applied(client, reference_s):
    response = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input=TEXT,
        response_format="wav",
        instructions="Speak like a pirate.",
    )
    assert response.response.headers["x-instructions-applied"] == "false"
    assert abs(pyav_decode(response.content)[2] - reference_s) < DURATION_TOLERANCE_S


def test_speed_is_honoured_over_its_whole_range(client):
    text = "Speed changes how long this sentence takes to say."
    durations = {}
    for speed in (0.25, 0.5, 1.0, 2.0, 3.0, 4.0):
        pcm = client.audio.speech.create(
            model="tts-1", voice="alloy", input=text, response_format="pcm", speed=speed
        ).content
        durations[speed] = len(pcm) / 2 / RATE
    for slower, faster in ((0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)):
        ratio = durations[slower] / durations[faster]
        assert ratio == pytest.approx(faster / slower, rel=0.15), durations


def test_models_are_listed_and_retrieved(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["glm-tts"]
    assert client.models.retrieve("glm-tts").owned_by == "espeak"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("tts-1-hd")
    assert caught.value.param == "model" and "serves 'glm-tts'" in caught.value.message


Invalid = openai.UnprocessableEntityError
ERRORS = [
    # (id, request fields, exception class, status, param, words in the message)
    ("speed too high", {"speed": 9}, Invalid, 422, "speed", "less than or equal to 4"),
    ("speed too low", {"speed": 0.1}, Invalid, 422, "speed", "greater than or equal"),
    ("unknown voice", {"voice": "nobody"}, Invalid, 422, "voice", "unknown voice 'nobody'"),
    ("unknown voice object", {"voice": {"id": "nobody"}}, Invalid, 422, "voice", "unknown voice 'nobody'"),
    (
        "unsupported format",
        {"response_format": "ogg"},
        Invalid,
        422,
        "response_format",
        "'mp3', 'opus', 'aac', 'flac', 'wav' or 'pcm'",
    ),
    ("empty input", {"input": "  "}, Invalid, 422, "input", "text is empty"),
    ("input over the limit", {"input": "a" * 2001}, openai.APIStatusError, 413, "input", "limit of 2000"),
    ("bad stream format", {"stream_format": "websocket"}, Invalid, 422, "stream_format", "'audio' or 'sse'"),
]


@pytest.mark.parametrize(
    ("fields", "error", "status", "param", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_reach_the_client_with_their_parameter(client, fields, error, status, param, words):
    request = {"model": "tts-1", "voice": "alloy", "input": "hello", **fields}
    with pytest.raises(error) as caught:
        client.audio.speech.create(**request)
    exc = caught.value
    assert exc.status_code == status
    assert words in exc.message and exc.param == param, (exc.message, exc.param)
    assert exc.type == "invalid_request_error" and exc.code


def test_a_missing_api_key_is_an_authentication_error(start_server):
    server = start_server(api_key="s3cret")
    anonymous = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        anonymous.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    assert "wrong API key" in caught.value.message and caught.value.type == "authentication_error"
    keyed = openai.OpenAI(base_url=f"{server.url}/v1", api_key="s3cret", max_retries=0)
    assert keyed.audio.speech.create(model="tts-1", voice="alloy", input="hi").content


# -- streaming -----------------------------------------------------------------------------------------


class RecordingToneBackend(tts_test_backends.ToneBackend):
    """A slow tone backend that notes when each sentence is finished."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.finished: list[float] = []
        self._record = threading.Lock()

    def synthesize(self, segments, options):
        audio = super().synthesize(segments, options)
        with self._record:
            self.finished.append(time.monotonic())
        return audio


STREAM_TEXT = "First sentence. Second sentence. Third sentence. Fourth sentence."


@pytest.fixture
def slow_server(start_server):
    backend = RecordingToneBackend(delay_s=0.4, seconds_per_segment=0.6)
    server = start_server(backend=backend)
    backend.finished.clear()  # forget the warm-up
    return server, backend


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "wav", "pcm"])  # flac is sent whole
def test_streaming_delivers_audio_before_the_last_sentence_is_synthesised(slow_server, fmt):
    server, backend = slow_server
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    first_chunk_at = None
    body = b""
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=STREAM_TEXT, response_format=fmt
    ) as response:
        assert "content-length" not in response.headers
        for chunk in response.iter_bytes():
            if first_chunk_at is None:
                first_chunk_at = time.monotonic()
            body += chunk
    assert len(backend.finished) == 4
    assert first_chunk_at < backend.finished[-1], "the first audio came only after the whole text was made"
    if fmt != "pcm":
        _, _, seconds, _ = pyav_decode(body)
        assert seconds == pytest.approx(4 * 0.6 + 3 * 0.12, abs=DURATION_TOLERANCE_S)


def test_sse_streams_openai_speech_events(slow_server):
    server, backend = slow_server
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    events, first_delta_at = [], None
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=STREAM_TEXT, response_format="mp3", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
                if first_delta_at is None:
                    first_delta_at = time.monotonic()
    assert first_delta_at < backend.finished[-1]
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"} and len(kinds) > 2
    assert events[-1]["usage"]["input_tokens"] == len(STREAM_TEXT)
    audio = b"".join(base64.b64decode(event["audio"]) for event in events[:-1])
    assert pyav_decode(audio)[2] == pytest.approx(4 * 0.6 + 3 * 0.12, abs=DURATION_TOLERANCE_S)


@pytest.mark.parametrize("readme", ["README.md", "inference/README.md"])
def test_the_readme_examples_work_against_the_service(espeak_server, readme, tmp_path, monkeypatch):
    """The OpenAI client snippets the READMEs show, run as written (only the URL points here)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / readme).read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "OpenAI(" in b]
    assert blocks, f"{readme} shows no OpenAI client example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        code = block.replace("http://127.0.0.1:8080", espeak_server.url)
        exec(compile(code, readme, "exec"), {"__name__": "readme_example"})  # noqa: S102 - our own docs
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "hello.mp3" in written
    for name in written:
        assert pyav_decode((tmp_path / name).read_bytes())[2] > 0.3, name
