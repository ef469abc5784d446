"""Request and response bodies of the HTTP API (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ResponseFormat = Literal["wav", "flac", "pcm"]
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong and what to change")


class TTSRequest(BaseModel):
    """Native synthesis request."""

    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not silently ignored

    text: str = Field(description="Text to speak; `<zh>…</zh>` / `<en>…</en>` tags mark languages")
    voice: str | None = Field(None, description="A registered voice (GET /v1/voices)")
    prompt_text: str | None = Field(None, description="Exact transcript of `prompt_audio`")
    prompt_audio: str | None = Field(None, description="Base64 WAV/FLAC, 3-10 s: an inline reference voice")
    phoneme: bool = Field(False, description="Phoneme mode: apply the pronunciation overrides")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Sampling seed, for repeatable output")
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    response_format: ResponseFormat = "wav"
    stream: bool = Field(False, description="Send audio sentence by sentence as it is synthesised")

    @model_validator(mode="after")
    def _one_reference(self) -> TTSRequest:
        if (self.prompt_audio is None) != (self.prompt_text is None):
            raise ValueError("prompt_audio and prompt_text go together: send both (audio and its exact "
                             "transcript) or neither")
        if self.voice is not None and self.prompt_audio is not None:
            raise ValueError("send either voice or prompt_audio+prompt_text, not both")
        return self


class SpeechRequest(BaseModel):
    """OpenAI-compatible `POST /v1/audio/speech`."""

    model_config = ConfigDict(extra="ignore")  # newer OpenAI fields (instructions...) are ignored

    model: str = Field("glm-tts", description="Accepted for compatibility; this server has one model")
    input: str = Field(description="Text to speak")
    voice: str | None = Field(None, description="A registered voice; OpenAI voice names use the default")
    response_format: ResponseFormat = "wav"
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)


class VoiceInfo(BaseModel):
    name: str
    transcript: str


class VoiceList(BaseModel):
    voices: list[VoiceInfo]


class Probe(BaseModel):
    status: str
    detail: str | None = None
    consecutive_failures: int | None = None


class EmptyCacheResult(BaseModel):
    freed_bytes: int = Field(description="Cached accelerator memory released (0 on CPU)")
    memory: dict[str, int] = Field(description="Accelerator memory after the release ({} on CPU)")


class BatchLineResult(BaseModel):
    line: int
    uttid: str | None = None
    status: Literal["pending", "ok", "failed", "invalid"]
    error: str | None = None
    duration_s: float | None = None
    audio_url: str | None = None


class BatchStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "interrupted"]
    total: int
    succeeded: int
    failed: int
    items: list[BatchLineResult]
