"""Text in, audio out, above any backend: validation, planning, G2P overrides, streaming.

The HTTP server and the CLI both call `Synthesizer`. A backend sees one sentence group of
single-language segments per call, except that a backend declaring `long_text_context`
(glmtts) gets a whole non-streamed request at once. Backend capability flags, all optional:
`handles_g2p` (applies the G2P dictionary itself), `supports_speed` (default True),
`long_text_context` (default False).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from glm_tts_server.audio import concatenate, resample
from glm_tts_server.backends.base import Audio, Backend, Segment, SynthesisOptions
from glm_tts_server.text import DEFAULT_MAX_SENTENCE_CHARS, InvalidText, plan_segments

if TYPE_CHECKING:
    from glm_tts_server.config import Settings
    from glm_tts_server.g2p import G2PDictionary

__all__ = ["InvalidOptions", "InvalidText", "Synthesizer", "build_synthesizer"]

DEFAULT_MAX_INPUT_CHARS = 2000
MIN_SPEED, MAX_SPEED = 0.25, 4.0
SENTENCE_GAP_S = 0.12  # a short pause between sentences, as a reader would make


class InvalidOptions(ValueError):
    """Synthesis options the backend cannot honour; the message says what to send instead."""


class Synthesizer:
    """Plans text into sentence groups and drives a loaded backend over them.

    Thread-safety is the backend's: the server runs at most `workers` calls at once.
    """

    def __init__(
        self,
        backend: Backend,
        g2p: G2PDictionary | None = None,
        max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
        sample_rate: int | None = None,
        max_sentence_chars: int = DEFAULT_MAX_SENTENCE_CHARS,
    ):
        self.backend = backend
        self.g2p = g2p
        self.max_input_chars = max_input_chars
        self.sample_rate = sample_rate or backend.sample_rate
        self.max_sentence_chars = max_sentence_chars

    def plan(self, text: str, phoneme: bool = False) -> list[list[Segment]]:
        """Validate and split text; raise InvalidText with what to fix."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidText("text is empty: send the words to speak")
        if len(text) > self.max_input_chars:
            raise InvalidText(
                f"text has {len(text)} characters, more than the limit of {self.max_input_chars}: "
                "split it into several requests or use the batch API"
            )
        groups = plan_segments(text, self.max_sentence_chars)
        if not groups:
            raise InvalidText("text holds no words to speak (only tags, spaces or punctuation)")
        if phoneme:
            groups = [[self._apply_g2p(seg) for seg in group] for group in groups]
        return groups

    def check_options(self, options: SynthesisOptions) -> SynthesisOptions:
        """Refuse options up front (not half-way through a stream)."""
        if not MIN_SPEED <= options.speed <= MAX_SPEED:
            raise InvalidOptions(f"speed {options.speed:g} is outside {MIN_SPEED:g}-{MAX_SPEED:g}")
        if options.speed != 1.0 and not getattr(self.backend, "supports_speed", True):
            raise InvalidOptions(
                f"the {self.backend.name} backend cannot change the speaking rate: send speed 1.0"
            )
        return options

    def _apply_g2p(self, segment: Segment) -> Segment:
        # A backend that applies overrides itself (glmtts, after upstream's text normalisation)
        # gets the plain text, flagged for phoneme mode.
        if self.g2p is not None and not getattr(self.backend, "handles_g2p", False):
            return replace(segment, text=self.g2p.apply(segment.text), phonemes=True)
        return replace(segment, phonemes=True)

    def _run(self, group: list[Segment], options: SynthesisOptions) -> Audio:
        audio = self.backend.synthesize(group, options)
        return resample(audio, self.sample_rate)

    def stream(
        self, text: str, options: SynthesisOptions | None = None, phoneme: bool = False
    ) -> Iterator[Audio]:
        """Yield one Audio per sentence group, each as soon as it is synthesised.

        Text and options are validated before the first yield, so InvalidText/InvalidOptions
        surface before any byte is sent.
        """
        groups = self.plan(text, phoneme)
        options = self.check_options(options or SynthesisOptions())
        return self._stream_groups(groups, options)

    def _stream_groups(self, groups: list[list[Segment]], options: SynthesisOptions) -> Iterator[Audio]:
        for group in groups:
            yield self._run(group, options)

    def synthesize(self, text: str, options: SynthesisOptions | None = None, phoneme: bool = False) -> Audio:
        """Whole text to one Audio; metadata carries `synthesis_s`, `rtf` and `sentences`.

        A backend with `long_text_context = True` (glmtts) gets the whole text in one call, so
        upstream's own sentence loop carries the prosody context from sentence to sentence;
        others get one call per sentence group.
        """
        started = time.perf_counter()
        if getattr(self.backend, "long_text_context", False):
            groups = self.plan(text, phoneme)
            options = self.check_options(options or SynthesisOptions())
            audio = self._run([seg for group in groups for seg in group], options)
            sentences = len(groups)
        else:
            chunks = list(self.stream(text, options, phoneme))
            audio = concatenate(chunks, self.sample_rate, gap_s=SENTENCE_GAP_S)
            sentences = len(chunks)
        elapsed = time.perf_counter() - started
        audio.metadata.update(
            synthesis_s=elapsed,
            rtf=elapsed / audio.duration_s if audio.duration_s else float("inf"),
            sentences=sentences,
            backend=self.backend.name,
        )
        return audio


def build_synthesizer(settings: Settings) -> Synthesizer:
    """The configured backend (loaded and warmed up), G2P dictionary and limits.

    Module-level and driven by picklable Settings, so batch worker processes can call it.
    """
    from glm_tts_server.backends import create_backend
    from glm_tts_server.g2p import G2PDictionary

    g2p = G2PDictionary(settings.g2p_dict) if settings.g2p_dict else None
    backend = create_backend(settings, g2p=g2p)
    backend.load()
    backend.warmup()
    return Synthesizer(
        backend, g2p=g2p, max_input_chars=settings.max_input_chars, sample_rate=settings.sample_rate
    )
