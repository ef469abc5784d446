"""Judge a synthesised WAV: container, sample rate, duration plausible for the text, not silence."""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

import numpy as np
import soundfile as sf

# Speaking rates, from phonetics surveys: Mandarin runs about 4-5 syllables (= characters) per
# second and English about 2.5 words per second (150 wpm). The bounds allow speech twice as fast
# (8 chars/s, 5 words/s: 300 wpm, an auctioneer) and more than twice as slow (2 chars/s,
# 1 word/s: spelled-out acronyms, careful reading), plus pauses at punctuation and the leading and
# trailing silence a vocoder pads with. Outside them, audio is truncated or generation ran away.
FAST_CJK_PER_S, SLOW_CJK_PER_S = 8.0, 2.0
FAST_WORDS_PER_S, SLOW_WORDS_PER_S = 5.0, 1.0
PAUSE_S = 0.5  # per punctuation mark, upper bound only
EDGE_SILENCE_S = 1.5  # leading + trailing padding, upper bound only
MIN_DURATION_S = 0.3

# Speech sits around -30..-15 dBFS RMS. Below -45 dBFS RMS or a -30 dBFS peak nothing audible
# was said (dither and DC offset stay far below); a model emitting zeros or noise floor lands there.
MIN_RMS_DBFS = -45.0
MIN_PEAK_DBFS = -30.0
CLIP_LEVEL, MAX_CLIPPED_FRACTION = 0.999, 0.01

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_PAUSE = re.compile(r"[,.;:!?\u3001\u3002\uff0c\uff1b\uff1a\uff01\uff1f]")


@dataclass(frozen=True)
class DurationBounds:
    low: float
    high: float


def expected_duration(text: str) -> DurationBounds:
    text = re.sub(r"</?(zh|en)>", " ", text)  # the service's language tags are not spoken
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    pauses = len(_PAUSE.findall(text))
    low = max(MIN_DURATION_S, cjk / FAST_CJK_PER_S + words / FAST_WORDS_PER_S)
    high = cjk / SLOW_CJK_PER_S + words / SLOW_WORDS_PER_S + pauses * PAUSE_S + EDGE_SILENCE_S
    return DurationBounds(round(low, 2), round(high, 2))


@dataclass(frozen=True)
class WavAnalysis:
    sample_rate: int
    channels: int
    frames: int
    subtype: str
    rms_dbfs: float
    peak_dbfs: float
    clipped_fraction: float

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


class NotWav(ValueError):
    """The body is not a readable RIFF/WAVE file."""


def _dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


def analyse_wav(body: bytes) -> WavAnalysis:
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        raise NotWav(f"the body does not start with a RIFF/WAVE header (first bytes {body[:12]!r})")
    try:
        samples, rate = sf.read(io.BytesIO(body), dtype="float32", always_2d=True)
        info = sf.info(io.BytesIO(body))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise NotWav(f"the RIFF/WAVE file cannot be decoded: {exc}") from exc
    if samples.size == 0:
        return WavAnalysis(rate, info.channels, 0, info.subtype, -math.inf, -math.inf, 0.0)
    magnitude = np.abs(samples)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return WavAnalysis(
        sample_rate=int(rate),
        channels=int(info.channels),
        frames=int(samples.shape[0]),
        subtype=str(info.subtype),
        rms_dbfs=_dbfs(rms),
        peak_dbfs=_dbfs(float(magnitude.max())),
        clipped_fraction=float(np.mean(magnitude >= CLIP_LEVEL)),
    )
