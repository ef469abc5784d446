"""Encoding, streaming header, resampling, and the reference-audio refusals."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from glm_tts_server.audio import (
    InvalidAudio,
    change_speed,
    check_reference,
    encode,
    read_reference,
    resample,
    to_pcm16,
    wav_stream_header,
)
from glm_tts_server.backends.base import Audio

RATE = 24000


def _tone(seconds, rate=RATE, amp=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _wav(samples, rate=RATE):
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_encode_round_trips(fmt):
    audio = Audio(_tone(0.5), RATE)
    decoded, rate = sf.read(io.BytesIO(encode(audio, fmt)), dtype="float32")
    assert rate == RATE and len(decoded) == len(audio.samples)
    assert np.max(np.abs(decoded - audio.samples)) < 1e-3


def test_pcm_is_raw_s16le_and_clips():
    pcm = encode(Audio(np.array([0.0, 1.0, -1.0, 2.0], dtype=np.float32), RATE), "pcm")
    assert struct.unpack("<4h", pcm) == (0, 32767, -32767, 32767)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="use one of wav, flac, pcm"):
        encode(Audio(_tone(0.1), RATE), "mp3")


def test_stream_header_plus_chunks_is_a_playable_wav():
    chunks = [_tone(0.2), _tone(0.3)]
    data = wav_stream_header(RATE) + b"".join(to_pcm16(c) for c in chunks)
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE and abs(len(decoded) - sum(map(len, chunks))) <= 1


def test_resample_changes_rate_keeps_duration():
    out = resample(Audio(_tone(1.0, 22050), 22050), 16000)
    assert out.sample_rate == 16000 and abs(out.duration_s - 1.0) < 0.01


def test_good_reference_passes_and_stereo_is_downmixed():
    stereo = np.stack([_tone(4.0, 16000), _tone(4.0, 16000)], axis=1)
    audio = check_reference(read_reference(_wav(stereo, 16000)))
    assert audio.sample_rate == 16000 and audio.samples.ndim == 1 and abs(audio.duration_s - 4) < 0.01


@pytest.mark.parametrize(
    ("samples", "reason"),
    [
        (_tone(1.5), "lasts 1.50 s"),
        (_tone(12.0), "lasts 12.00 s"),
        (np.zeros(RATE * 4, dtype=np.float32), "silent"),
        (np.clip(_tone(4.0, amp=3.0), -1, 1), "clipped"),
    ],
)
def test_bad_references_are_refused_with_the_reason(samples, reason):
    with pytest.raises(InvalidAudio, match=reason):
        check_reference(read_reference(_wav(samples)))


@pytest.mark.parametrize("data", [b"", b"this is not audio at all", b"RIFF\x00\x00\x00\x00WAVEjunk"])
def test_not_audio_is_refused(data):
    with pytest.raises(InvalidAudio, match=r"empty|not readable"):
        read_reference(data)


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_change_speed_keeps_the_pitch(speed):
    audio = change_speed(Audio(_tone(2.0), RATE), speed)
    assert abs(audio.duration_s - 2.0 / speed) < 0.02
    spectrum = np.abs(np.fft.rfft(audio.samples * np.hanning(len(audio.samples))))
    assert abs(np.argmax(spectrum) * RATE / len(audio.samples) - 220) < 2
    assert change_speed(audio, 1.0) is audio
