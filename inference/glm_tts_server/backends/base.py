"""The one interface every synthesis backend implements.

A backend turns one piece of text in one language run into audio. Splitting long text into
sentences, language tagging, G2P overrides, streaming and batching live above it
(`glm_tts_server.synthesis`), so each backend stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


class BackendUnavailable(RuntimeError):
    """Startup failed; the message names what is missing (code, checkpoint file, CUDA...)."""


class OutOfMemory(RuntimeError):
    """The accelerator ran out of memory for this request (the server answers 503)."""


@dataclass(frozen=True)
class Voice:
    """A registered reference voice: 3-10 s of prompt audio and its exact transcript."""

    name: str
    audio_path: Path
    transcript: str


@dataclass(frozen=True)
class Segment:
    """One run of text in a single language, at most one sentence or a short group of them."""

    text: str
    language: str  # "zh" or "en"
    phonemes: bool = False  # text already holds phoneme tokens (phoneme mode / G2P overrides)


@dataclass(frozen=True)
class SynthesisOptions:
    voice: Voice | None = None
    speed: float = 1.0
    seed: int | None = None


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@runtime_checkable
class Backend(Protocol):
    name: str
    sample_rate: int

    def load(self) -> None:
        """Load code and weights; raise BackendUnavailable naming what is missing."""

    def warmup(self) -> None:
        """Run one short synthesis so the first real request is not the slow one."""

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        """Synthesise consecutive segments (one sentence's worth) into one piece of audio."""

    def empty_cache(self) -> int:
        """Release cached accelerator memory; return the bytes freed (0 on CPU)."""

    def memory_stats(self) -> dict[str, int]:
        """Accelerator memory in bytes ({} on CPU): allocated, reserved, total."""

    def unload(self) -> None:
        """Drop the model and give accelerator memory back."""
