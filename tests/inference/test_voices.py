"""VoiceStore: register (vetted, atomic), list, get, delete, safe names."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from glm_tts_server.audio import InvalidAudio
from glm_tts_server.voices import InvalidVoice, UnknownVoice, VoiceStore


def _speech_like(seconds=4.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate, format="FLAC")
    return buf.getvalue()


def test_register_get_list_delete(tmp_path):
    store = VoiceStore(tmp_path)
    assert store.list() == []
    voice = store.register("alice", _speech_like(), "  这是爱丽丝。 ")
    assert voice.transcript == "这是爱丽丝。"
    data, rate = sf.read(voice.audio_path)
    assert rate == 16000 and abs(len(data) / rate - 4.0) < 0.01  # stored as WAV, same audio
    store.register("bob", _speech_like(5.0), "Bob here.")
    assert [v.name for v in store.list()] == ["alice", "bob"]
    assert store.get("bob").transcript == "Bob here."
    store.delete("alice")
    assert [v.name for v in store.list()] == ["bob"]
    assert not list((tmp_path / "voices").glob("alice*"))
    assert not list((tmp_path / "voices").glob(".*tmp"))


def test_register_replaces_existing_voice(tmp_path):
    store = VoiceStore(tmp_path)
    store.register("carol", _speech_like(), "first")
    store.register("carol", _speech_like(6.0), "second")
    assert store.get("carol").transcript == "second"
    assert len(store.list()) == 1


@pytest.mark.parametrize("name", ["../etc", "Alice", "a/b", "", ".hidden", "x" * 64, "名字"])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(InvalidVoice, match="invalid voice name"):
        VoiceStore(tmp_path).register(name, _speech_like(), "text")
    with pytest.raises(UnknownVoice):
        VoiceStore(tmp_path).get(name)


def test_unknown_voice(tmp_path):
    store = VoiceStore(tmp_path)
    with pytest.raises(UnknownVoice, match="register it first"):
        store.get("nobody")
    with pytest.raises(UnknownVoice):
        store.delete("nobody")
    assert isinstance(UnknownVoice("x"), KeyError)


def test_bad_audio_or_transcript_stores_nothing(tmp_path):
    store = VoiceStore(tmp_path)
    with pytest.raises(InvalidAudio, match="lasts"):
        store.register("short", _speech_like(1.0), "too short")
    with pytest.raises(InvalidVoice, match="transcript is empty"):
        store.register("quiet", _speech_like(), "   ")
    assert store.list() == []
