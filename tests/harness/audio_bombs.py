"""Hostile audio files, written byte by byte: tiny on the wire, enormous once decoded.

No encoder makes these on purpose, so they are built here from the FLAC format itself
(https://xiph.org/flac/format.html): every frame holds one constant subframe per channel, three
bytes that decode to 65,535 samples each.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

_BLOCK = 65535  # the largest FLAC block: the most samples per byte of input


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _streaminfo(rate: int, channels: int, total_samples: int) -> bytes:
    # 20 bits rate, 3 bits channels-1, 5 bits bits-per-sample-1 (16), 36 bits total samples
    packed = (rate << 44) | ((channels - 1) << 41) | (15 << 36) | (total_samples & (2**36 - 1))
    body = struct.pack(">HH", _BLOCK, _BLOCK) + b"\0" * 6 + packed.to_bytes(8, "big") + b"\0" * 16
    return bytes([0x80]) + len(body).to_bytes(3, "big") + body  # last metadata block, type 0


def constant_flac(frames: int, channels: int = 8, rate: int = 48000, level: int = 1000) -> bytes:
    """`frames` FLAC frames of 65,535 samples per channel, every sample `level` (16-bit).

    About 36 bytes per frame for 8 channels: 1,000 frames (36 KB) decode to 524 million samples,
    2.1 GB as float32.
    """
    if not 1 <= channels <= 8 or not 0 < frames < 0xD800:  # frame numbers stay 1-3 byte UTF-8
        raise ValueError("1-8 channels and fewer than 55,296 frames")
    out = bytearray(b"fLaC" + _streaminfo(rate, channels, frames * _BLOCK))
    subframe = b"\x00" + struct.pack(">h", level)  # type CONSTANT, no wasted bits, the value
    for number in range(frames):
        # sync + fixed blocking; block size "16 bit at end", rate "from STREAMINFO";
        # channels independent, 16 bits per sample
        header = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | 0x08])
        header += chr(number).encode("utf-8") + struct.pack(">H", _BLOCK - 1)
        header += bytes([_crc8(header)])
        frame = header + subframe * channels
        out += frame + struct.pack(">H", _crc16(frame))
    return bytes(out)


def lying_length_flac(claimed_samples: int = 2**36 - 1) -> bytes:
    """A real 4 s mono FLAC whose header claims `claimed_samples` samples (2^36 - 1 at most)."""
    t = np.arange(4 * 16000, dtype=np.float32) / 16000
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 180 * t), 16000, format="FLAC", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    # STREAMINFO starts at byte 8; total samples are the low 36 bits of its bytes 10-17.
    packed = int.from_bytes(data[18:26], "big")
    packed = (packed & ~(2**36 - 1)) | claimed_samples
    data[18:26] = packed.to_bytes(8, "big")
    return bytes(data)
