"""eSpeak NG backend: real speech in English and Chinese, speed, phoneme tokens, thread safety."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
import soundfile as sf
from glm_tts_server.audio import encode, rms
from glm_tts_server.backends import BackendUnavailable, create_backend
from glm_tts_server.backends.base import Backend, Segment, SynthesisOptions
from glm_tts_server.backends.espeak import EspeakBackend
from glm_tts_server.config import load_settings
from glm_tts_server.pinyin import pinyin_to_tokens

SPEECH_RMS = 0.01


@pytest.fixture(scope="module")
def backend():
    b = EspeakBackend(sample_rate=24000)
    b.load()
    b.warmup()
    return b


def _decoded(audio):
    data, rate = sf.read(io.BytesIO(encode(audio, "wav")), dtype="float32")
    return data, rate


@pytest.mark.parametrize(("text", "lang"), [("Hello from the CPU backend.", "en"), ("你好，世界。", "zh")])
def test_real_speech_at_the_configured_rate(backend, text, lang):
    data, rate = _decoded(backend.synthesize([Segment(text, lang)], SynthesisOptions()))
    assert rate == 24000
    assert len(data) / rate > 0.5
    assert rms(data) > SPEECH_RMS


def test_factory_builds_it_and_it_implements_the_protocol():
    b = create_backend(load_settings({"GLMTTS_SAMPLE_RATE": "16000"}))
    assert isinstance(b, Backend) and b.name == "espeak"
    b.load()
    assert b.synthesize([Segment("rate check", "en")], SynthesisOptions()).sample_rate == 16000
    assert b.empty_cache() == 0 and b.memory_stats() == {}


def test_speed_changes_duration(backend):
    text = [Segment("The quick brown fox jumps over the lazy dog.", "en")]
    normal = backend.synthesize(text, SynthesisOptions()).duration_s
    fast = backend.synthesize(text, SynthesisOptions(speed=2.0)).duration_s
    slow = backend.synthesize(text, SynthesisOptions(speed=0.6)).duration_s
    assert fast < normal * 0.75 < normal < slow * 0.8


def test_phoneme_tokens_are_spoken_like_the_characters(backend):
    chars = backend.synthesize([Segment("中国", "zh")], SynthesisOptions()).samples
    tokens = backend.synthesize(
        [Segment(pinyin_to_tokens("zhōng guó"), "zh", phonemes=True)], SynthesisOptions()
    ).samples
    assert rms(tokens) > SPEECH_RMS
    assert abs(len(tokens) - len(chars)) < 0.1 * len(chars)


def test_concurrent_calls_are_serialised_and_correct(backend):
    expected = backend.synthesize([Segment("one two three", "en")], SynthesisOptions()).samples
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda _: backend.synthesize([Segment("one two three", "en")], SynthesisOptions()).samples,
                range(8),
            )
        )
    # eSpeak varies a few samples between runs; interleaved calls would garble or truncate audio.
    assert all(abs(len(r) - len(expected)) < 0.02 * len(expected) for r in results)
    assert all(rms(r) > SPEECH_RMS for r in results)


def test_synthesize_before_load_is_an_error():
    with pytest.raises(BackendUnavailable, match="load"):
        EspeakBackend().synthesize([Segment("x", "en")], SynthesisOptions())


def test_custom_backend_path_errors_name_the_problem():
    with pytest.raises(BackendUnavailable, match="cannot import module 'no_such_mod'"):
        create_backend(load_settings({"GLMTTS_BACKEND": "no_such_mod:Thing"}))
    with pytest.raises(BackendUnavailable, match="has no 'Nope'"):
        create_backend(load_settings({"GLMTTS_BACKEND": "glm_tts_server.audio:Nope"}))
    with pytest.raises(BackendUnavailable, match="does not implement"):
        create_backend(load_settings({"GLMTTS_BACKEND": "collections:OrderedDict"}))
