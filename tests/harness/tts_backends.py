"""TTS backends for the server tests: a real `Backend` that makes tones (slowly, or long ones),
fails or runs out of memory.

Loadable as custom backends (`GLMTTS_BACKEND=harness.tts_backends:SlowToneBackend`) by a server
subprocess, or handed to `create_app(settings, backend=...)` directly.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from glm_tts_server.backends.base import Audio, OutOfMemory, Segment, SynthesisOptions

TONE_HZ = 220.0


class ToneBackend:
    """A 220 Hz tone, `seconds_per_segment` long per segment, after `delay_s` of 'thinking'."""

    name = "tone"

    def __init__(
        self,
        settings=None,
        *,
        delay_s: float = 0.0,
        load_s: float = 0.0,
        seconds_per_segment: float = 0.4,
        sample_rate: int = 16000,
    ):
        self.sample_rate = sample_rate  # deliberately not the server's: the Synthesizer resamples
        self.delay_s = delay_s
        self.load_s = load_s
        self.seconds_per_segment = seconds_per_segment
        self.calls = 0
        self.empty_cache_calls = 0
        self._lock = threading.Lock()
        self.loaded = False

    def load(self) -> None:
        time.sleep(self.load_s)
        self.loaded = True

    def warmup(self) -> None:  # no delay at start-up: only requests are slow
        delay, self.delay_s = self.delay_s, 0.0
        try:
            self.synthesize([Segment("warm up", "en")], SynthesisOptions())
        finally:
            self.delay_s = delay

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        assert self.loaded, "synthesize() before load()"
        with self._lock:
            self.calls += 1
        time.sleep(self.delay_s)
        n = round(self.seconds_per_segment * len(segments) * self.sample_rate / options.speed)
        t = np.arange(n, dtype=np.float32) / self.sample_rate
        return Audio(
            samples=(0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32), sample_rate=self.sample_rate
        )

    def empty_cache(self) -> int:
        self.empty_cache_calls += 1
        return 0

    def memory_stats(self) -> dict[str, int]:
        return {}

    def unload(self) -> None:
        self.loaded = False


class SlowToneBackend(ToneBackend):
    """For server subprocesses: the delay per sentence group comes from TTS_TEST_DELAY_S."""

    def __init__(self, settings=None):
        super().__init__(settings, delay_s=float(os.environ.get("TTS_TEST_DELAY_S", "0.5")))


class FailingBackend(ToneBackend):
    """Fails every synthesis after warm-up, until `healthy` is set."""

    def __init__(self, settings=None, **kwargs):
        super().__init__(settings, **kwargs)
        self.healthy = True

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        if not self.healthy:
            raise RuntimeError("the accelerator fell off the bus")
        return super().synthesize(segments, options)


class OomBackend(ToneBackend):
    """Runs out of memory on every request after warm-up."""

    def __init__(self, settings=None, **kwargs):
        super().__init__(settings, **kwargs)
        self.oom = False

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        if self.oom:
            raise OutOfMemory("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().synthesize(segments, options)

    def memory_stats(self) -> dict[str, int]:
        return {"allocated": 1024, "reserved": 4096, "total": 80 * 2**30}


class BrokenBackend(ToneBackend):
    """Cannot load: the server must report why and exit non-zero."""

    def load(self) -> None:
        from glm_tts_server.backends.base import BackendUnavailable

        raise BackendUnavailable("glmtts backend: checkpoint ckpt/llm is missing under /models")


class LongToneBackend(ToneBackend):
    """For server subprocesses: long replies made fast; seconds of tone per sentence group come
    from TTS_TEST_SECONDS_PER_SEGMENT."""

    def __init__(self, settings=None):
        super().__init__(
            settings, seconds_per_segment=float(os.environ.get("TTS_TEST_SECONDS_PER_SEGMENT", "8"))
        )


class PoolProbeBackend(SlowToneBackend):
    """For pool worker processes, which a test cannot poke: runs out of memory when the text says
    "exhaust the memory", and reports GPU-like memory figures (total = one 80 GiB GPU)."""

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        if any("exhaust the memory" in seg.text for seg in segments):
            raise OutOfMemory("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().synthesize(segments, options)

    def empty_cache(self) -> int:
        super().empty_cache()
        return 1000

    def memory_stats(self) -> dict[str, int]:
        return {"allocated": 1024, "reserved": 4096, "total": 80 * 2**30}
