"""Decompression bombs: prompt audio is judged by its header before a sample is decoded.

A few KB of FLAC can declare hours of 8-channel audio; the 10 MB upload cap counts compressed
bytes. Measured on a server process: its peak RSS (VmHWM) while it refuses the bombs.
"""

from __future__ import annotations

import base64
import io

import httpx
import pytest
import soundfile as sf
from conftest import CONSENT, tone_wav
from glm_tts_server.audio import InvalidAudio, read_reference
from harness.audio_bombs import constant_flac, lying_length_flac
from hostile import error_text, memory_kb

BOMB_FRAMES = 300  # 11 KB of FLAC: 157 million samples, 630 MB as float32
PEAK_GROWTH_LIMIT = 1.25  # peak RSS during the attack over the peak of a legitimate upload


def test_the_bombs_are_what_they_claim() -> None:
    bomb = constant_flac(BOMB_FRAMES)
    info = sf.info(io.BytesIO(bomb))
    assert (info.channels, info.samplerate, info.frames) == (8, 48000, BOMB_FRAMES * 65535)
    assert len(bomb) < 12_000
    assert sf.info(io.BytesIO(lying_length_flac())).frames == 2**36 - 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (constant_flac(BOMB_FRAMES), "8 channels"),
        (constant_flac(BOMB_FRAMES, channels=1), "lasts 409.59 s"),
        (lying_length_flac(), "lasts 4294967.30 s"),
        (constant_flac(2, channels=1, rate=4000), "4000 Hz"),
    ],
    ids=["8 channels", "409 s mono", "2^36 samples claimed", "4 kHz"],
)
def test_read_reference_refuses_from_the_header(data: bytes, expected: str) -> None:
    with pytest.raises(InvalidAudio, match=expected):
        read_reference(data)


def test_bombs_are_refused_with_422_and_memory_stays_flat(start_server_process) -> None:
    server = start_server_process(backend="harness.tts_backends:ToneBackend")
    pid = server.proc.pid
    with httpx.Client(base_url=server.url, timeout=60) as client:
        ok = client.post(
            "/v1/voices",
            data={"name": "calm", "transcript": "hello there", "consent": CONSENT},
            files={"audio": ("v.wav", tone_wav(), "audio/wav")},
        )
        assert ok.status_code == 201, ok.text
        baseline = memory_kb(pid)["VmHWM"]
        bomb = constant_flac(BOMB_FRAMES)
        answers = [
            client.post(
                "/v1/voices",
                data={"name": "bomb", "transcript": "hello", "consent": CONSENT},
                files={"audio": ("v.flac", bomb, "audio/flac")},
            ),
            client.post(
                "/v1/tts",
                json={
                    "text": "hello",
                    "prompt_text": "hello",
                    "prompt_audio": base64.b64encode(bomb).decode(),
                },
            ),
            client.post(
                "/v1/tts",
                json={
                    "text": "hello",
                    "prompt_text": "hello",
                    "prompt_audio": base64.b64encode(lying_length_flac()).decode(),
                },
            ),
            client.post(
                "/v1/voices",
                data={"name": "liar", "transcript": "hello", "consent": CONSENT},
                files={"audio": ("v.flac", lying_length_flac(), "audio/flac")},
            ),
        ]
        peak = memory_kb(pid)["VmHWM"]
    growth = peak / baseline
    print(
        f"peak RSS {baseline / 1024:.0f} MiB -> {peak / 1024:.0f} MiB during the bombs ({growth:.2f}x), "
        f"answers {[a.status_code for a in answers]}"
    )
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert "channels" in error_text(answer) or "lasts" in error_text(answer)
    assert growth < PEAK_GROWTH_LIMIT, f"peak RSS grew {growth:.2f}x refusing {len(bomb)} bytes"
