"""Audio in and out: encoding responses, resampling, reading and vetting reference prompts."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import soundfile as sf
import soxr

from glm_tts_server.backends.base import Audio

SUPPORTED_FORMATS = ("wav", "flac", "pcm")
MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/L16"}

# Upstream GLM-TTS wants 3-10 s of prompt speech; shorter clones badly, longer wastes context.
MIN_REFERENCE_S = 3.0
MAX_REFERENCE_S = 10.0
# What a microphone recording can reasonably be; anything else is refused before decoding.
MIN_REFERENCE_RATE, MAX_REFERENCE_RATE = 8000, 192000
MAX_REFERENCE_CHANNELS = 2
SILENCE_RMS = 1e-3  # about -60 dBFS
CLIP_LEVEL = 0.999
MAX_CLIPPED_FRACTION = 0.001  # more than 0.1 % of samples at full scale is audible distortion


class InvalidAudio(ValueError):
    """Reference audio that cannot be used; the message says why and what to send instead."""


class UnsupportedFormat(ValueError):
    """A response format this server does not produce."""


def check_format(fmt: str, formats: tuple[str, ...] = SUPPORTED_FORMATS) -> str:
    """`fmt` in lower case, if it is one of `formats` (by default those `encode` writes)."""
    fmt = fmt.lower()
    if fmt not in formats:
        raise UnsupportedFormat(f"unsupported response_format {fmt!r}: use one of {', '.join(formats)}")
    return fmt


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to little-endian signed 16-bit PCM."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def encode(audio: Audio, fmt: str = "wav") -> bytes:
    """Encode mono audio as a complete `wav` (PCM16), `flac` or raw `pcm` (s16le) payload."""
    fmt = check_format(fmt)
    if fmt == "pcm":
        return to_pcm16(audio.samples)
    buf = io.BytesIO()
    samples = np.clip(np.asarray(audio.samples, dtype=np.float32), -1.0, 1.0)
    sf.write(buf, samples, audio.sample_rate, format=fmt.upper(), subtype="PCM_16")
    return buf.getvalue()


def wav_stream_header(sample_rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as players expect).

    Follow it with `to_pcm16(chunk.samples)` for every chunk.
    """
    byte_rate = sample_rate * channels * bits // 8
    block_align = channels * bits // 8
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, byte_rate, block_align, bits)
        + b"data"
        + struct.pack("<I", unknown)
    )


def resample(audio: Audio, sample_rate: int) -> Audio:
    """Resample to `sample_rate` (soxr, high quality); a no-op when the rate already matches."""
    if audio.sample_rate == sample_rate:
        return audio
    samples = soxr.resample(np.asarray(audio.samples, dtype=np.float32), audio.sample_rate, sample_rate)
    return Audio(
        samples=samples.astype(np.float32, copy=False), sample_rate=sample_rate, metadata=dict(audio.metadata)
    )


def change_speed(audio: Audio, speed: float) -> Audio:
    """Speak faster (speed > 1) or slower without changing the pitch (Rubber Band via pedalboard).

    For backends with no speaking-rate control of their own (GLM-TTS).
    """
    if speed == 1.0 or not len(audio.samples):
        return audio
    from pedalboard import time_stretch  # imported on first use: only glmtts needs it

    stretched = time_stretch(
        np.asarray(audio.samples, dtype=np.float32)[None, :],
        float(audio.sample_rate),
        stretch_factor=float(speed),
    )
    return Audio(
        samples=stretched[0].astype(np.float32, copy=False),
        sample_rate=audio.sample_rate,
        metadata=dict(audio.metadata),
    )


def concatenate(chunks: list[Audio], sample_rate: int, gap_s: float = 0.0) -> Audio:
    """Join chunks (resampled to `sample_rate`), optionally with a short silence between them."""
    gap = np.zeros(round(gap_s * sample_rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, chunk in enumerate(chunks):
        if i and gap.size:
            parts.append(gap)
        parts.append(resample(chunk, sample_rate).samples)
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return Audio(samples=samples.astype(np.float32, copy=False), sample_rate=sample_rate)


def read_reference(data: bytes) -> Audio:
    """Decode uploaded reference audio (wav, flac, ogg...) to mono float32.

    The header is checked before anything is decoded: a few KB of compressed audio can claim
    hours of 8-channel samples (a decompression bomb), so rate, channels and length must fit a
    3-10 s prompt first, and no more than that many frames are ever decoded, whatever the
    header says.
    """
    if not data:
        raise InvalidAudio("reference audio is empty: send a 3-10 s WAV or FLAC recording")
    try:
        with sf.SoundFile(io.BytesIO(data)) as sound:
            rate, channels, frames = sound.samplerate, sound.channels, sound.frames
            _check_header(rate, channels, frames)
            # A lying header cannot make this read more: one frame past the limit is enough to tell.
            limit = math.ceil(MAX_REFERENCE_S * rate) + 1
            samples = sound.read(min(frames, limit), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidAudio):
            raise
        reason = getattr(exc, "error_string", None) or "unknown or damaged format"
        raise InvalidAudio(
            f"reference audio is not readable audio ({reason}): send a WAV or FLAC file"
        ) from None
    return Audio(samples=samples.mean(axis=1).astype(np.float32), sample_rate=int(rate))


def _check_header(rate: int, channels: int, frames: int) -> None:
    if not MIN_REFERENCE_RATE <= rate <= MAX_REFERENCE_RATE:
        raise InvalidAudio(
            f"reference audio has a sample rate of {rate} Hz: send {MIN_REFERENCE_RATE} to "
            f"{MAX_REFERENCE_RATE} Hz audio"
        )
    if not 1 <= channels <= MAX_REFERENCE_CHANNELS:
        raise InvalidAudio(f"reference audio has {channels} channels: send mono or stereo")
    duration = frames / rate
    if duration > MAX_REFERENCE_S:
        raise InvalidAudio(
            f"reference audio lasts {duration:.2f} s: it must last between "
            f"{MIN_REFERENCE_S:g} and {MAX_REFERENCE_S:g} s; trim or re-record it"
        )


def check_reference(audio: Audio) -> Audio:
    """Refuse prompts the model clones badly: wrong length, silence, clipping. Returns `audio`."""
    duration = audio.duration_s
    if not MIN_REFERENCE_S <= duration <= MAX_REFERENCE_S:
        raise InvalidAudio(
            f"reference audio lasts {duration:.2f} s: it must last between "
            f"{MIN_REFERENCE_S:g} and {MAX_REFERENCE_S:g} s; trim or re-record it"
        )
    samples = np.asarray(audio.samples, dtype=np.float32)
    level = rms(samples)
    if level < SILENCE_RMS:
        raise InvalidAudio(
            f"reference audio is silent (RMS {level:.5f}): record clear speech at a normal level"
        )
    clipped = float(np.mean(np.abs(samples) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_FRACTION:
        raise InvalidAudio(
            f"reference audio is clipped ({clipped:.1%} of samples at full scale): "
            "record again with a lower input gain"
        )
    return audio


def rms(samples: np.ndarray) -> float:
    """Root mean square level of float samples (0.0 for no samples)."""
    samples = np.asarray(samples, dtype=np.float64)
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
