"""CPU speech through eSpeak NG (library and data from the `espeakng-loader` wheel, via ctypes).

Robotic but real speech, in Chinese (`cmn`) and English, with no GPU and no weights: the demo,
CI and GPU-less clusters run it. eSpeak NG keeps global state (one voice, one callback per
process), so every call is serialised by a process-wide lock; real parallelism comes from
processes (the batch CLI starts one backend per worker process).

Phoneme mode: GLM-TTS phoneme tokens are turned into numbered pinyin, which `cmn` reads.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

import numpy as np

from glm_tts_server.audio import change_speed, resample
from glm_tts_server.backends.base import Audio, BackendUnavailable, Segment, SynthesisOptions
from glm_tts_server.pinyin import tokens_to_pinyin

log = logging.getLogger(__name__)

# espeak_ng/speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE = 1
_EE_OK = 0
DEFAULT_RATE_WPM = 175  # eSpeak's own default words per minute
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
VOICES = {"zh": "cmn", "en": "en-us"}

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

# One library per process, whatever the number of backend objects: its state is global.
_LIB_LOCK = threading.Lock()
_LIB: dict[str, object] = {}


class _Collector:
    """Receives eSpeak's synchronous callbacks; owned by the thread holding `_LIB_LOCK`."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []

    def __call__(self, wav, numsamples, _events) -> int:
        if numsamples > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0  # 0 = continue synthesis


def _open_library() -> tuple[ctypes.CDLL, int, _Collector]:
    """Load and initialise libespeak-ng once per process; return (lib, native rate, collector)."""
    if "lib" in _LIB:
        return _LIB["lib"], _LIB["rate"], _LIB["collector"]  # type: ignore[return-value]
    try:
        import espeakng_loader
    except ImportError as exc:
        raise BackendUnavailable("espeak backend: the espeakng-loader package is not installed") from exc
    lib_path = Path(espeakng_loader.get_library_path())
    try:
        data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(str(lib_path))
    except (OSError, RuntimeError) as exc:
        raise BackendUnavailable(f"espeak backend: cannot load {lib_path}: {exc}") from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    # The path argument is the directory that *contains* espeak-ng-data.
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path.parent).encode(), _INITIALIZE_DONT_EXIT
    )
    if rate <= 0:
        raise BackendUnavailable(f"espeak backend: espeak_Initialize failed with data at {data_path}")
    collector = _Collector()
    callback = _SYNTH_CALLBACK(collector)
    lib.espeak_SetSynthCallback(callback)
    # Keep the ctypes callback alive for the life of the process (the library holds a raw pointer).
    _LIB.update(lib=lib, rate=rate, collector=collector, callback=callback)
    return lib, rate, collector


class EspeakBackend:
    """The `espeak` backend."""

    name = "espeak"

    def __init__(self, sample_rate: int = 24000):
        self.sample_rate = sample_rate
        self._native_rate = 0

    def load(self) -> None:
        with _LIB_LOCK:
            lib, self._native_rate, _ = _open_library()
            for voice in VOICES.values():  # fail at startup, not on the first request
                if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                    self._native_rate = 0
                    raise BackendUnavailable(
                        f"espeak backend: voice {voice!r} is missing from the "
                        "eSpeak NG data shipped with espeakng-loader"
                    )
        log.info("espeak backend ready (native %d Hz, output %d Hz)", self._native_rate, self.sample_rate)

    def warmup(self) -> None:
        self.synthesize([Segment("warm up", "en")], SynthesisOptions())

    def _speak(self, text: str, voice: str, wpm: int) -> np.ndarray:
        lib, _, collector = _open_library()
        collector.chunks = []
        if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise BackendUnavailable(f"espeak backend: voice {voice!r} is missing from the eSpeak NG data")
        lib.espeak_SetParameter(_RATE, wpm, 0)
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        status = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        chunks, collector.chunks = collector.chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        if not self._native_rate:
            raise BackendUnavailable("espeak backend: call load() before synthesize()")
        # eSpeak's own rate covers 80-450 words per minute (speed 0.46-2.57); beyond that the rest of
        # the change is a pitch-preserving time stretch, so speed keeps its meaning up to 0.25 and 4.
        wanted = DEFAULT_RATE_WPM * options.speed
        wpm = round(min(max(wanted, MIN_RATE_WPM), MAX_RATE_WPM))
        parts = []
        with _LIB_LOCK:
            for segment in segments:
                text = tokens_to_pinyin(segment.text) if segment.phonemes else segment.text
                if text.strip():
                    parts.append(self._speak(text, VOICES.get(segment.language, "en-us"), wpm))
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        native = Audio(samples=samples, sample_rate=self._native_rate)
        if abs(wanted / wpm - 1.0) > 1e-3:
            native = change_speed(native, wanted / wpm)
        return resample(native, self.sample_rate)

    def empty_cache(self) -> int:
        return 0

    def memory_stats(self) -> dict[str, int]:
        return {}

    def unload(self) -> None:
        self._native_rate = 0  # the library stays mapped: it is shared by the whole process
