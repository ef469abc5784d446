"""Reference clips for the page: a voiced, modulated tone that passes the server's clip checks."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def speechlike_wav(seconds: float = 4.0, rate: int = 16000, fmt: str = "WAV") -> bytes:
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    samples = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()
