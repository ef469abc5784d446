"""Registered reference voices on disk: `<data_dir>/voices/<name>.wav` + `<name>.json`.

The prompt audio is vetted (`audio.check_reference`) and stored normalised as 16-bit WAV; the
JSON holds the transcript, and who registered the voice with what consent. Every write goes
to a temporary file in the same directory then `os.replace`, so a crash or a concurrent reader
never sees a half-written voice, and several replicas sharing one volume stay consistent.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from glm_tts_server.audio import check_reference, encode, read_reference
from glm_tts_server.backends.base import Voice

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_TRANSCRIPT_CHARS = 500


class UnknownVoice(KeyError):
    """No voice by that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else "unknown voice"


class InvalidVoice(ValueError):
    """The name or transcript cannot be used; the message says what to fix."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidVoice(
            f"invalid voice name {name!r}: use 1-63 characters a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VoiceStore:
    """CRUD over the voices directory; thread-safe within a process."""

    def __init__(self, data_dir: str | os.PathLike[str]):
        self.root = Path(data_dir) / "voices"
        self._lock = threading.Lock()

    def _paths(self, name: str) -> tuple[Path, Path]:
        check_name(name)
        return self.root / f"{name}.wav", self.root / f"{name}.json"

    def _contained(self, path: Path) -> Path:
        """`path` if it is a regular file inside the store; FileNotFoundError for anything else, such
        as a symlink to a file elsewhere (the voices volume may be shared and written by others)."""
        try:
            real = path.resolve(strict=True)
            inside = real.is_relative_to(self.root.resolve(strict=True)) and real.is_file()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            inside = False
        if not inside:
            raise FileNotFoundError(path.name)
        return path

    def register(
        self, name: str, audio_bytes: bytes, transcript: str, provenance: dict[str, Any] | None = None
    ) -> Voice:
        """Vet and store a voice (replacing one of the same name). Raises InvalidAudio/InvalidVoice.

        `provenance` (who registered it, when, with what consent) is kept in its JSON. A failed
        write removes what it wrote: no voice is ever left with audio but no description, or
        with a description of other audio.
        """
        wav_path, meta_path = self._paths(name)
        transcript = (transcript or "").strip()
        if not transcript:
            raise InvalidVoice("transcript is empty: give the exact words spoken in the reference audio")
        if len(transcript) > MAX_TRANSCRIPT_CHARS:
            raise InvalidVoice(
                f"transcript is longer than {MAX_TRANSCRIPT_CHARS} characters: "
                "a 3-10 s prompt holds far fewer words; check it matches the audio"
            )
        audio = check_reference(read_reference(audio_bytes))
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            # Audio first: a voice "exists" once its JSON exists, so readers never see it half-made.
            meta = {
                "name": name,
                "transcript": transcript,
                "sample_rate": audio.sample_rate,
                "duration_s": round(audio.duration_s, 3),
                **(provenance or {}),
            }
            encoded_meta = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
            _atomic_write(wav_path, encode(audio, "wav"))
            try:
                _atomic_write(meta_path, encoded_meta)
            except BaseException:
                meta_path.unlink(missing_ok=True)  # it described the audio just replaced
                wav_path.unlink(missing_ok=True)
                raise
        return Voice(name=name, audio_path=wav_path, transcript=transcript)

    def get(self, name: str) -> Voice:
        try:
            wav_path, meta_path = self._paths(name)
        except InvalidVoice:
            raise UnknownVoice(f"unknown voice {name!r}") from None
        try:
            meta = json.loads(self._contained(meta_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnknownVoice(f"unknown voice {name!r}: register it first (POST /v1/voices)") from None
        try:
            self._contained(wav_path)
        except FileNotFoundError:
            raise UnknownVoice(
                f"voice {name!r} has lost its audio file {wav_path.name}: register it again"
            ) from None
        return Voice(name=name, audio_path=wav_path, transcript=meta["transcript"])

    def describe(self, name: str) -> dict[str, Any]:
        """The voice's JSON: transcript, audio facts and provenance. Raises UnknownVoice."""
        self.get(name)
        _, meta_path = self._paths(name)
        try:
            return json.loads(self._contained(meta_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnknownVoice(f"unknown voice {name!r}") from None

    def list(self) -> list[Voice]:
        if not self.root.is_dir():
            return []
        voices = []
        for meta_path in sorted(self.root.glob("*.json")):
            try:
                voices.append(self.get(meta_path.stem))
            except (UnknownVoice, ValueError, KeyError):
                continue  # a foreign or broken file is not a voice
        return voices

    def delete(self, name: str) -> None:
        wav_path, meta_path = self._paths(name)
        with self._lock:
            if not meta_path.exists():
                raise UnknownVoice(f"unknown voice {name!r}")
            meta_path.unlink()  # the voice disappears atomically; the audio goes after
            wav_path.unlink(missing_ok=True)
