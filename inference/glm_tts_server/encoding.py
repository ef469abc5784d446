"""Response audio in OpenAI's six formats, whole or streamed: mp3, opus, aac, flac, wav, pcm.

mp3 (LAME), opus (libopus in Ogg) and aac (FFmpeg's encoder, ADTS frames) go through PyAV, whose
wheels carry FFmpeg and those codecs, so nothing has to be installed on the host. wav and pcm are
16-bit little-endian PCM; flac is written by libsndfile.

`StreamEncoder` turns float samples into bytes as they come: every `write()` returns what can be
sent now, so a client hears the first sentence while the next is being synthesised. flac is the
exception: it is sent whole once the text is done, because its header must hold the length
(libsndfile, behind soundfile, cannot read a FLAC stream of unknown length).
"""

from __future__ import annotations

import contextlib
import io
from typing import Protocol

import numpy as np

from glm_tts_server.audio import check_format, to_pcm16, wav_stream_header

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
DEFAULT_FORMAT = "mp3"  # OpenAI's default when a request names none
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/L16",
}
# format → (PyAV container, codec, bit rate); speech needs far less than music.
_PYAV = {
    "mp3": ("mp3", "libmp3lame", 64_000),
    "opus": ("ogg", "libopus", 32_000),
    "aac": ("adts", "aac", 64_000),
}
# Hand each packet to the client at once: no 32 KiB I/O buffer, Ogg pages of 20 ms at most.
_MUXER_OPTIONS = {"flush_packets": "1"}
_OGG_OPTIONS = {"page_duration": "20000"}
_IO_BUFFER = 4096
# LAME's -q 7 ("fast, ok quality"): half the CPU of its default for 64 kbit/s speech.
_CODEC_OPTIONS = {"libmp3lame": {"compression_level": "7"}}


def encoded_rate(fmt: str, sample_rate: int) -> int:
    """The rate the format is written at: the source rate when the codec takes it, else the next one up
    (opus only knows 8, 12, 16, 24 and 48 kHz)."""
    if fmt not in _PYAV:
        return sample_rate
    import av  # PyAV loads FFmpeg: only when a compressed format is asked for

    rates = sorted(av.Codec(_PYAV[fmt][1], "w").audio_rates or ())
    if not rates or sample_rate in rates:
        return sample_rate
    return next((rate for rate in rates if rate >= sample_rate), rates[-1])


class _Sink:
    """A write-only file for PyAV's muxer: collects what it writes until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class StreamEncoder(Protocol):
    sample_rate: int  # the rate of the encoded audio

    def write(self, samples: np.ndarray) -> bytes:
        """Encode float mono samples at the source rate; return the bytes ready to send."""

    def finish(self) -> bytes:
        """Flush the encoder; return the last bytes. No write() after it."""

    def close(self) -> None:
        """Release the encoder (after finish(), or instead of it when the client has gone)."""


class _PcmEncoder:
    def __init__(self, sample_rate: int, header: bytes):
        self.sample_rate = sample_rate
        self._header = header

    def write(self, samples: np.ndarray) -> bytes:
        header, self._header = self._header, b""
        return header + to_pcm16(samples)

    def finish(self) -> bytes:
        header, self._header = self._header, b""
        return header

    def close(self) -> None:
        pass


class _WholeFileEncoder:
    def __init__(self, fmt: str, sample_rate: int):
        self.sample_rate = sample_rate
        self._fmt = fmt
        self._parts: list[np.ndarray] = []

    def write(self, samples: np.ndarray) -> bytes:
        self._parts.append(np.asarray(samples, dtype=np.float32))
        return b""

    def finish(self) -> bytes:
        samples = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)
        return encode(samples, self.sample_rate, self._fmt)

    def close(self) -> None:
        self._parts = []


class _PyAVEncoder:
    def __init__(self, fmt: str, sample_rate: int):
        import av

        container_format, codec, bit_rate = _PYAV[fmt]
        self._source_rate = sample_rate
        self.sample_rate = encoded_rate(fmt, sample_rate)
        self._sink = _Sink()
        options = dict(_MUXER_OPTIONS, **(_OGG_OPTIONS if container_format == "ogg" else {}))
        self._container = av.open(
            self._sink, "w", format=container_format, options=options, buffer_size=_IO_BUFFER
        )
        self._stream = self._container.add_stream(
            codec, rate=self.sample_rate, layout="mono", options=_CODEC_OPTIONS.get(codec, {})
        )
        if bit_rate:
            self._stream.bit_rate = bit_rate
        self._frame_cls = av.AudioFrame
        self._pts = 0

    def _encode(self, frame) -> bytes:
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def write(self, samples: np.ndarray) -> bytes:
        samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        if self.sample_rate != self._source_rate:
            import soxr

            samples = soxr.resample(samples, self._source_rate, self.sample_rate).astype(np.float32)
        if not samples.size:
            return self._sink.take()
        frame = self._frame_cls.from_ndarray(
            np.ascontiguousarray(samples[None, :]), format="flt", layout="mono"
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += samples.size
        return self._encode(frame)

    def finish(self) -> bytes:
        tail = self._encode(None)
        self._container.close()
        return tail + self._sink.take()

    def close(self) -> None:
        self._container.close()  # FFmpeg's muxer and codec; closing twice is harmless


def stream_encoder(fmt: str, sample_rate: int) -> StreamEncoder:
    fmt = check_format(fmt, FORMATS)
    if fmt == "wav":
        return _PcmEncoder(sample_rate, wav_stream_header(sample_rate))
    if fmt == "pcm":
        return _PcmEncoder(sample_rate, b"")
    if fmt == "flac":
        return _WholeFileEncoder(fmt, sample_rate)
    return _PyAVEncoder(fmt, sample_rate)


def encode(samples: np.ndarray, sample_rate: int, fmt: str = DEFAULT_FORMAT) -> bytes:
    """A complete file in `fmt` (wav and flac with their exact length in the header)."""
    fmt = check_format(fmt, FORMATS)
    if fmt in ("wav", "flac"):
        import soundfile as sf

        buf = io.BytesIO()
        clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        sf.write(buf, clipped, sample_rate, format=fmt.upper(), subtype="PCM_16")
        return buf.getvalue()
    with contextlib.closing(stream_encoder(fmt, sample_rate)) as encoder:
        return encoder.write(samples) + encoder.finish()


def warm_up(sample_rate: int) -> None:
    """Load FFmpeg and every codec once (about half a second), so no request pays for it."""
    silence = np.zeros(sample_rate // 10, dtype=np.float32)
    for fmt in _PYAV:
        encode(silence, sample_rate, fmt)
