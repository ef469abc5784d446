"""Synthesizer over the real eSpeak NG backend: validation, planning, streaming, phoneme mode."""

from __future__ import annotations

import io

import pytest
import soundfile as sf
from glm_tts_server.audio import encode, rms
from glm_tts_server.backends.base import SynthesisOptions
from glm_tts_server.backends.espeak import EspeakBackend
from glm_tts_server.config import load_settings
from glm_tts_server.g2p import G2PDictionary
from glm_tts_server.synthesis import InvalidOptions, InvalidText, Synthesizer, build_synthesizer


class CountingBackend(EspeakBackend):
    """eSpeak, counting calls, to observe when the synthesizer asks for each sentence."""

    def __init__(self, sample_rate=24000):
        super().__init__(sample_rate)
        self.calls = []

    def synthesize(self, segments, options):
        self.calls.append([s.text for s in segments])
        return super().synthesize(segments, options)


@pytest.fixture
def backend():
    b = CountingBackend()
    b.load()
    return b


def test_mixed_text_becomes_real_speech_at_the_configured_rate(backend):
    synth = Synthesizer(backend, sample_rate=16000)
    audio = synth.synthesize("你好，我喜欢Python编程。It is a nice language! 再见。")
    data, rate = sf.read(io.BytesIO(encode(audio, "wav")), dtype="float32")
    assert rate == 16000
    assert len(data) / rate > 1.5
    assert rms(data) > 0.01
    assert audio.metadata["sentences"] == 3 and audio.metadata["backend"] == "espeak"
    assert 0 < audio.metadata["rtf"] < 10
    assert backend.calls[0] == ["你好，我喜欢", "Python", "编程。"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "text is empty"),
        ("   \n", "text is empty"),
        ("<zh></zh> 。。", "no words"),
        ("x" * 51, "more than the limit of 50"),
        ("<de>hallo</de>", "unknown tag <de>"),
    ],
)
def test_invalid_text_says_what_to_fix(backend, text, message):
    with pytest.raises(InvalidText, match=message):
        Synthesizer(backend, max_input_chars=50).plan(text)


def test_stream_is_lazy_and_validates_before_the_first_chunk(backend):
    synth = Synthesizer(backend)
    with pytest.raises(InvalidText):
        synth.stream("")  # raised at call time, before any response byte would be sent
    chunks = synth.stream("First sentence. Second sentence. Third one.", SynthesisOptions(speed=1.2))
    first = next(chunks)
    assert len(backend.calls) == 1  # the first sentence is out before the others are synthesised
    assert first.sample_rate == 24000 and rms(first.samples) > 0.01
    rest = list(chunks)
    assert len(rest) == 2 and len(backend.calls) == 3


def test_phoneme_mode_applies_dictionary_overrides(backend, tmp_path):
    path = tmp_path / "g2p.jsonl"
    path.write_text('{"word": "重庆", "pinyin": "chóng qìng"}\n', encoding="utf-8")
    synth = Synthesizer(backend, g2p=G2PDictionary(path))
    (group,) = synth.plan("我去重庆。", phoneme=True)
    assert group[0].phonemes and "<|CH|><|ONG2|><|Q|><|ING4|>" in group[0].text
    assert not synth.plan("我去重庆。")[0][0].phonemes
    audio = synth.synthesize("我去重庆。", phoneme=True)
    assert rms(audio.samples) > 0.01


def test_build_synthesizer_from_settings(tmp_path):
    path = tmp_path / "g2p.jsonl"
    path.write_text('{"word": "行", "pinyin": "háng"}\n', encoding="utf-8")
    synth = build_synthesizer(
        load_settings(
            {"GLMTTS_SAMPLE_RATE": "22050", "GLMTTS_G2P_DICT": str(path), "GLMTTS_MAX_INPUT_CHARS": "100"}
        )
    )
    assert synth.sample_rate == 22050 and synth.max_input_chars == 100
    assert synth.synthesize("银行。", phoneme=True).sample_rate == 22050


@pytest.mark.parametrize("speed", [0.1, 5.0])
def test_speed_outside_range_is_refused_before_synthesis(backend, speed):
    with pytest.raises(InvalidOptions, match=r"outside 0\.25-4"):
        Synthesizer(backend).stream("Hello.", SynthesisOptions(speed=speed))
    assert backend.calls == []


def test_speed_on_a_backend_without_rate_control_is_refused_up_front(backend):
    backend.supports_speed = False  # as a custom backend with a fixed rate would declare
    with pytest.raises(InvalidOptions, match="cannot change the speaking rate"):
        Synthesizer(backend).stream("Hello.", SynthesisOptions(speed=1.5))
    assert list(Synthesizer(backend).stream("Hello.", SynthesisOptions(speed=1.0)))
